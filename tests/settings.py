"""Test settings: the project's settings plus a fixed, test-only secret and fast retries."""

import os
from pathlib import Path

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-insecure-key")
os.environ.setdefault("SHOP_RETRY_DELAY_SCALE", "0.01")
# The test client and live servers speak plain HTTP: no redirect to https (shop/settings.py).
os.environ.setdefault("DJANGO_HTTPS", "0")
# One SQLite test database per test run, so concurrent runs never share (or delete) a file.
os.environ.setdefault(
    "SHOP_TEST_SQLITE", str(Path(__file__).resolve().parents[1] / "var" / f"test-{os.getpid()}.sqlite3")
)

from shop.settings import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests start and stop worker threads all the time; a connection kept open by a finished
# thread would hold the test database open when pytest-django drops it. Close after each use.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("SHOP_TEST_CONN_MAX_AGE", "0"))  # noqa: F405
# Tests render admin pages with DEBUG off and never run collectstatic: the manifest storage would
# refuse every {% static %} without STATIC_ROOT/staticfiles.json. Unhashed names, and whitenoise
# serves them straight from the apps' static/ directories (tests/unit/test_static_files.py runs the
# production storage against a collectstatic of its own).
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
# No STATIC_ROOT: a var/static left by `make run` (or its absence, which whitenoise warns about)
# must not change what the tests see.
STATIC_ROOT = None  # type: ignore[assignment]  # Django's "not set" (shop.settings has a Path)
