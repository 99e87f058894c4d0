"""Run the command line with ``python -m abusedesk``."""

from abusedesk.cli import main

main()
