"""What a user of ``make run`` sees in a browser that can reach nothing but this server.

The server is the one ``make run`` starts, not pytest-django's live server (which serves static
files itself, so whitenoise would never be asked): ``manage.py collectstatic`` into a var/
directory of this module's own, then the Procfile's ``web`` line (gunicorn, DEBUG off). Every
request the page makes to any other host is aborted and recorded; none may be made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import screenshot
from tests.production import collect_static, web_server

if TYPE_CHECKING:
    from playwright.sync_api import Page, Response, Route

pytestmark = pytest.mark.browser

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
#: The computed background of an element no stylesheet has touched.
UNSTYLED = "rgba(0, 0, 0, 0)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gunicorn over a fresh collectstatic, as ``make run`` has it; its base URL."""
    var_dir = tmp_path_factory.mktemp("var")
    collect_static(var_dir)
    with web_server(var_dir) as url:
        yield url


@pytest.fixture
def offline_page(page: Page) -> Iterator[tuple[Page, list[str]]]:
    """The page, with every request to a host other than the loopback aborted; the aborted URLs."""
    aborted: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlparse(url).scheme in {"http", "https"} and urlparse(url).hostname not in LOOPBACK:
            aborted.append(url)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/*", only_loopback)
    yield page, aborted


def test_api_docs_render_swagger_ui_offline(server: str, offline_page: tuple[Page, list[str]]) -> None:
    page, aborted = offline_page
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    page.goto(f"{server}/api/docs")
    page.wait_for_selector(".opblock")  # Swagger UI ran and rendered the schema's operations

    assert page.locator(".opblock").count() >= 3
    assert page.locator(".opblock-summary-path", has_text="/api/orders").count() >= 1
    screenshot(page, "api-docs-offline")
    assert aborted == []
    assert failed == []


def test_the_admin_login_page_is_styled(server: str, offline_page: tuple[Page, list[str]]) -> None:
    page, aborted = offline_page
    stylesheets: list[Response] = []
    page.on("response", lambda r: stylesheets.append(r) if r.request.resource_type == "stylesheet" else None)

    page.goto(f"{server}/admin/login/")
    page.wait_for_load_state("load")

    base = [r for r in stylesheets if Path(urlparse(r.url).path).name.startswith("base.")]
    assert base, [r.url for r in stylesheets]
    assert all(r.status == 200 for r in stylesheets), [(r.status, r.url) for r in stylesheets]
    header = page.locator("#header").evaluate("element => getComputedStyle(element).backgroundColor")
    assert header != UNSTYLED  # the admin's blue bar, from base.css
    screenshot(page, "admin-login-offline")
    assert aborted == []
