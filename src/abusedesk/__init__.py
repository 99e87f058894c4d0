"""abusedesk: a Trust & Safety workbench for cloud messaging providers."""

__version__ = "0.1.0"
