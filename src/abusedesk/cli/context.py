"""What every command starts from: settings, logging and the wired container."""

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


@contextmanager
def open_container() -> Iterator[Container]:
    """Build the container from the environment for one command, and close it after."""
    container = build(Settings(), configure_logs=True)
    try:
        yield container
    finally:
        container.close()
