"""Parsing: raw report bytes into a ParsedReport of zero or more event drafts."""
