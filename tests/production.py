"""The app as ``make run`` starts it, for the tests of what its users see: static files, /api/docs.

``tests.settings`` serves static files from the apps' directories (no collectstatic in tests). What
a user runs is different: ``shop.settings`` with DEBUG off, ``manage.py collectstatic`` into
STATIC_ROOT with content-hashed names, and the Procfile's ``web`` line (gunicorn, whitenoise in its
middleware). These helpers run exactly that, in fresh processes, against a var/ directory of the
test's own, so nothing here depends on how the test process itself is configured.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import processes
from tests.integration.workers import procfile

ROOT = Path(__file__).resolve().parents[1]
SUBPROCESS_TIMEOUT = 180
START_TIMEOUT = 60


def production_env(var_dir: Path, **extra: str) -> dict[str, str]:
    """A fresh process's environment: DEBUG off, ``shop.settings``, plain HTTP on the loopback.

    None of this run's DJANGO_*, CELERY_* or SHOP_* settings leak in. DJANGO_HTTPS=0 is what
    ``make run`` exports (gunicorn on 127.0.0.1 speaks plain http); the secret is a fixed test one.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CELERY_", "SHOP_")) and k not in {"DATABASE_URL", "PYTHONPATH"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="shop.settings",
        DJANGO_SECRET_KEY="production-like-tests-only-key",
        DJANGO_DEBUG="0",
        DJANGO_HTTPS="0",
        SHOP_VAR_DIR=str(var_dir),  # STATIC_ROOT is var_dir/static, the SQLite file var_dir/shop.sqlite3
    )
    env.update(extra)
    return env


def collect_static(var_dir: Path) -> Path:
    """``manage.py collectstatic --noinput`` as ``make run`` calls it; STATIC_ROOT."""
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT,
        env=production_env(var_dir),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    static_root = var_dir / "static"
    assert (static_root / "staticfiles.json").exists(), result.stdout
    return static_root


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def web_server(var_dir: Path) -> Iterator[str]:
    """The Procfile's ``web`` line (gunicorn) on a free loopback port; its base URL.

    Nothing it is asked for here touches the database (the docs page, the OpenAPI schema, the
    admin's login form and static files), so it needs no migrations: no broker, no workers.
    """
    port = free_port()
    env = production_env(var_dir, PORT=str(port), WEB_WORKERS="1")
    command = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m.group(1), m.group(2)), procfile()["web"])
    log = var_dir / "web.log"
    process = processes.start([sys.executable, "-m", *shlex.split(command)], env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(f"{url}/api/openapi.json"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the web process did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        processes.stop(process)
