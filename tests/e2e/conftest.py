"""Browser fixtures: Debian's chromium driven by Playwright, against pytest-django's live server.

Playwright's ``playwright install`` downloads its own browsers, which this project's CI cannot do,
so the tests drive the distribution's ``/usr/bin/chromium`` (installed by ``.ci/run`` with apt).
Without it, or without the ``playwright`` package, the tests are skipped with the reason; under
``CI=true`` they fail instead, as every missing service does (tests/services.py).

The live server runs in this process, so the web page's embedded worker (``lesson.web.worker``,
started by the first order placed from the page) consumes ``memory://`` here too: no broker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from tests.services import in_ci

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path(os.environ.get("SHOP_TEST_CHROMIUM", "/usr/bin/chromium"))
#: The flags that let Debian's chromium run headless in a container with no GPU, sandbox or network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}


def _missing(what: str) -> NoReturn:
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing browser is a failure)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing: apt-get install chromium (Debian's package) to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is missing: pip install -e '.[dev]'")
    # Playwright's sync API keeps an asyncio loop in this thread, and Django refuses ORM calls
    # from a thread with a loop. The test's own database checks are plain synchronous code, so
    # the guard is lifted for this module only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            try:
                yield launched
            finally:
                launched.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test (its own cookies). On failure a screenshot is kept."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(30_000)
    opened = context.new_page()
    yield opened
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        screenshot(opened, f"{request.node.name}-FAILED", full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so ``page`` knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Saved under var/screenshots/ (git-ignored): the artifacts of a run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def site(live_server: Any, transactional_db: None) -> Iterator[str]:
    """The live server's URL, with the catalog seeded. The page starts the embedded worker on the
    first order; it is stopped here, before the database is flushed under it."""
    from catalog.services import seed_catalog
    from lesson.web import worker
    from messaging import bootstrap

    bootstrap.configure()
    seed_catalog()
    try:
        yield str(live_server.url)
    finally:
        worker.stop()
