"""Browser fixtures: one headless Chromium per run, a fresh context per test."""

from tests.support.browser import browser, guard, page, playwright_driver

__all__ = ["browser", "guard", "page", "playwright_driver"]
