"""Browser fixtures: one headless Chromium per test module, a fresh context per test, and
the app served with the cookie settings used in production."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from abusedesk.bootstrap import Container, build
from abusedesk.web.app import create_app
from tests.support.access import access_settings
from tests.support.browser import browser, guard, page, playwright_driver
from tests.support.web import serving

__all__ = ["browser", "guard", "page", "playwright_driver"]


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """Return the container with a Secure session cookie, as in production."""
    built = build(access_settings(database_url, tmp_path, allow_plain_http=False))
    yield built
    built.close()


@pytest.fixture
def site(container: Container) -> Iterator[str]:
    """Serve the app on 127.0.0.1."""
    with serving(create_app(container)) as base_url:
        yield base_url
