"""Static files with DEBUG off, served by whitenoise, and /api/docs without any other host.

With DEBUG off Django serves no static file; before whitenoise the admin came up unstyled
(``/static/admin/css/base.css`` answered 404) and /api/docs pulled Swagger UI from a CDN, so it
stayed blank offline. Two configurations are checked: the tests' own (whitenoise reading the apps'
static/ directories, no collectstatic) and the production one, ``shop.settings``' hashed storage
over a real ``manage.py collectstatic`` run in a fresh process, as ``make run`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from whitenoise.middleware import WhiteNoiseFileResponse

import shop.settings as production
from tests.production import collect_static

#: Every URL an HTML page makes the browser fetch: src= and href= attributes.
ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
#: Any absolute URL (http://, https:// or protocol-relative //host) anywhere in a page.
ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[\w.-]+""")
#: What whitenoise answers for a content-hashed name: cache it for ten years, never revalidate.
FOREVER = "max-age=315360000"


def body(response: object) -> bytes:
    """The bytes of a test client response, streamed (whitenoise's files) or not."""
    streaming = getattr(response, "streaming_content", None)
    return b"".join(streaming) if streaming is not None else bytes(getattr(response, "content", b""))


@pytest.fixture(scope="module")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """STATIC_ROOT after ``manage.py collectstatic`` under ``shop.settings`` (DEBUG off)."""
    return collect_static(tmp_path_factory.mktemp("var"))


@pytest.fixture
def production_client(static_root: Path) -> Iterator[Client]:
    """A client whose whitenoise serves the collected files through the production storage.

    A new Client builds its middleware on its first request, after the override: whitenoise
    scans STATIC_ROOT and the manifest storage reads its staticfiles.json then.
    """
    with override_settings(STATIC_ROOT=static_root, STORAGES=production.STORAGES, WHITENOISE_USE_FINDERS=False):
        yield Client()


def test_the_production_settings_serve_static_files_with_whitenoise() -> None:
    """The configuration under test: whitenoise right after SecurityMiddleware, hashed storage."""
    assert production.MIDDLEWARE[:2] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]
    assert production.STORAGES["staticfiles"]["BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert "ninja" in production.INSTALLED_APPS  # ninja's own template and its bundled Swagger UI


def test_the_admin_css_is_served_with_debug_off_in_tests() -> None:
    assert settings.DEBUG is False
    response = Client().get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert isinstance(response, WhiteNoiseFileResponse)
    assert response["Content-Type"].startswith("text/css")
    assert b"font-family" in body(response)


def test_the_admin_css_is_served_from_collectstatic_with_debug_off(production_client: Client) -> None:
    response = production_client.get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert isinstance(response, WhiteNoiseFileResponse)
    assert response["Content-Type"].startswith("text/css")
    assert b"font-family" in body(response)


def test_the_admin_links_its_css_by_hashed_name_cached_forever(production_client: Client) -> None:
    """The login page names the manifest's hashed file; whitenoise serves it gzipped, cached for good."""
    page = production_client.get("/admin/login/")
    assert page.status_code == 200
    hashed = re.search(r"/static/admin/css/base\.[0-9a-f]{12}\.css", page.content.decode())
    assert hashed, page.content.decode()[:2000]

    response = production_client.get(hashed.group(0), HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert FOREVER in response["Cache-Control"]
    assert response["Content-Encoding"] == "gzip"


@pytest.mark.parametrize("configuration", ["tests", "production"])
def test_api_docs_reference_no_other_host(configuration: str, request: pytest.FixtureRequest) -> None:
    """/api/docs links only this server's files, each of which answers, and the schema it loads."""
    client: Client = request.getfixturevalue("production_client") if configuration == "production" else Client()
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()

    assert ABSOLUTE_URL.findall(html) == []
    assets = ASSET.findall(html)
    assert {Path(a).suffix for a in assets} >= {".css", ".js"}, assets  # Swagger UI's stylesheet and bundle
    for asset in assets:
        assert asset.startswith("/static/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset
        body(response)  # read to the end: closes the file

    swagger_settings = re.search(r'id="swagger-settings">(.*?)</script>', html, re.S)
    assert swagger_settings, html
    swagger = json.loads(swagger_settings.group(1))
    assert swagger["url"].startswith("/")
    assert client.get(swagger["url"]).status_code == 200
