"""A real headless Chromium for page tests, and the guard that fails a test on any hostile script.

Pages are driven with Playwright against Debian's ``chromium`` package (Playwright's own
browser download is not reachable). Without that browser the browser tests skip, unless
``ABUSEDESK_TEST_REQUIRE_BROWSER`` is set, as CI sets it: then they fail.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, Playwright, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_VARIABLE = "ABUSEDESK_TEST_REQUIRE_BROWSER"
PAYLOADS = Path(__file__).with_name("xss_payloads.txt")

# Runs before any page script: payloads that execute call __xss(); blocked inline code
# still reports a Content-Security-Policy violation, which means markup got through.
_TRAPS = """
window.__abusedeskHits = [];
window.__xss = (tag) => window.__abusedeskHits.push('ran:' + String(tag));
document.addEventListener('securitypolicyviolation', (e) => {
  window.__abusedeskHits.push('csp:' + e.violatedDirective + ':' + (e.blockedURI || 'inline'));
});
"""

# Markup a page of ours never renders from content: any of it means escaping failed.
_DOM_CHECK = """
() => {
  const problems = [];
  const dangerous = /^(javascript|vbscript|data:text\\/html)/;
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\\u0000-\\u0020]/g, '').toLowerCase();
      if (name.startsWith('on')) problems.push(`${el.tagName} has handler ${name}`);
      if (['href', 'src', 'action', 'formaction', 'xlink:href', 'data', 'srcdoc'].includes(name)
          && (dangerous.test(value) || name === 'srcdoc')) {
        problems.push(`${el.tagName} ${name}=${attr.value.slice(0, 60)}`);
      }
      if ((name.startsWith('hx-') || name.startsWith('data-hx-')) && value.includes('xss')) {
        problems.push(`${el.tagName} carries injected ${name}`);
      }
    }
  }
  for (const el of document.querySelectorAll('script:not([src]), iframe, object, embed, base, meta[http-equiv]')) {
    problems.push(`unexpected <${el.tagName.toLowerCase()}> element`);
  }
  return problems;
}
"""


def hostile_payloads() -> list[str]:
    """Return the injection payloads every page must render inert."""
    lines = PAYLOADS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("# ")]


@dataclass
class HostileContentGuard:
    """Collect dialogs and script runs on a page; `check` fails the test on any of them."""

    page: Page
    dialogs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.add_init_script(_TRAPS)
        self.page.on("dialog", self._on_dialog)

    def _on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def problems(self) -> list[str]:
        """Return what went wrong on the current page: dialogs, script runs, live markup."""
        hits: list[str] = self.page.evaluate("window.__abusedeskHits || []")
        found: list[str] = self.page.evaluate(_DOM_CHECK)
        return [*self.dialogs, *hits, *found]

    def check(self, context: str = "") -> None:
        """Fail the test if anything hostile ran or survived as markup on the current page."""
        problems = self.problems()
        assert not problems, f"hostile content is live {context}: {problems}"


# Module-scoped, not session-scoped: Playwright's sync API keeps an event loop running on
# the main thread while it lives, and tests elsewhere call asyncio.run(). Test order is
# shuffled by module, so a module's browser tests run together and then it stops.
@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    """Start Playwright for one test module, or skip when Chromium is not installed."""
    if not CHROMIUM.exists():
        if os.environ.get(REQUIRE_VARIABLE):
            pytest.fail(f"{CHROMIUM} is missing and {REQUIRE_VARIABLE} is set")
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM}")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    """Return one headless Chromium for a test module."""
    launched = playwright_driver.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """Return a page in a fresh browser context (no cookies shared between tests)."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def guard(page: Page) -> HostileContentGuard:
    """Watch *page* for dialogs and hostile script runs."""
    return HostileContentGuard(page)
