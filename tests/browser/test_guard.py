"""The hostile-content guard itself: it must see what it exists to catch."""

import pytest
from playwright.sync_api import Page

from tests.support.browser import HostileContentGuard

UNSAFE_PAGES = {
    "script runs": "<p>hi</p><script>__xss(1)</script>",
    "dialog opens": "<img src=x onerror=alert(2)>",
    "handler survives": '<div onclick="x()">text</div>',
    "javascript link survives": '<a href=" JavaScript:x()">link</a>',
    "injected htmx survives": '<div hx-get="/logout?xss=1">x</div>',
    "frame survives": '<iframe src="about:blank"></iframe>',
}


@pytest.mark.parametrize("html", UNSAFE_PAGES.values(), ids=UNSAFE_PAGES.keys())
def test_guard_reports_live_hostile_content(
    page: Page, guard: HostileContentGuard, html: str
) -> None:
    """Each kind of escaping failure is reported."""
    page.goto("about:blank")
    page.set_content(html)
    page.wait_for_timeout(50)

    assert guard.problems() != []


def test_guard_reports_inline_script_blocked_by_the_policy(
    page: Page, guard: HostileContentGuard
) -> None:
    """Markup that got through but was blocked by the Content-Security-Policy still fails."""
    page.route(
        "http://pages.test/",
        lambda route: route.fulfill(
            body="<p>x</p><script>__xss(1)</script>",
            content_type="text/html",
            headers={"Content-Security-Policy": "script-src 'self'"},
        ),
    )
    page.goto("http://pages.test/")
    page.wait_for_timeout(50)

    assert any(problem.startswith("csp:") for problem in guard.problems())


def test_guard_passes_plain_escaped_text(page: Page, guard: HostileContentGuard) -> None:
    """Escaped markup shown as text is not a problem."""
    page.goto("about:blank")
    page.set_content("<p>&lt;script&gt;__xss(1)&lt;/script&gt;</p>")

    assert guard.problems() == []
