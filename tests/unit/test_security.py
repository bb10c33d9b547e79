"""Security settings and promises, checked from outside where that is the honest way.

- ``DJANGO_SECRET_KEY`` is required (DEBUG on or off), and ``make demo`` is the only place that
  generates one.
- With DEBUG off, ``manage.py check --deploy`` is clean: the production-grade defaults in
  shop/settings.py's security block.
- Broker credentials are never printed: not by a worker that cannot reach its broker, not by our
  own log calls, not in Django's error reports.
- Workers accept JSON only: Celery's task messages and the event consumers alike.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from kombu import Connection

ROOT = Path(__file__).resolve().parents[2]
#: The project's own packages, as isort knows them (pyproject.toml), without the tests.
_ISORT = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["isort"]
PROJECT_PACKAGES = [name for name in _ISORT["known-first-party"] if name != "tests"]
SKIPPED_DIRS = {".venv", ".git", "var", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "build"}
#: 64 characters, many distinct: what `check --deploy` (security.W009) calls a strong key. A fixed
#: string, so that this file itself generates no key (see the test that only `make demo` does).
STRONG_KEY = "k3Yf0r-T3sts_0nly.9bQ2zR7wXp4LmN8vC1sD6hJ0tG5yU3iO7eA2qW9rE4tY6uZ"
SUBPROCESS_TIMEOUT = 120


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a fresh process of the app gets: none of this run's DJANGO_* or broker."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "CELERY_", "SHOP_")) and k not in {"DATABASE_URL", "PYTHONPATH"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    env["SHOP_VAR_DIR"] = str(ROOT / "var")  # a development SQLite path no command here writes to
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )


# --- the secret key ------------------------------------------------------------------------


@pytest.mark.parametrize("debug", ["", "1"], ids=["DEBUG off", "DEBUG on"])
@pytest.mark.parametrize("how", ["manage.py check", "django.setup()"])
def test_the_app_refuses_to_start_without_a_secret_key(debug: str, how: str) -> None:
    env = clean_env(DJANGO_DEBUG=debug)
    if how == "manage.py check":
        result = manage("check", env=env)
    else:
        code = "import django; django.setup()"
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBPROCESS_TIMEOUT,
            check=False,
        )

    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr
    assert "export DJANGO_SECRET_KEY=" in result.stderr  # it says how to set one


def test_an_empty_secret_key_is_refused_too() -> None:
    result = manage("check", env=clean_env(DJANGO_SECRET_KEY=""))

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


#: Ways to mint a random secret: Python's secrets/Django's helper, openssl, /dev/urandom.
KEY_GENERATION = re.compile(
    r"secrets\.token_(urlsafe|hex|bytes)|get_random_secret_key|openssl\s+rand|/dev/u?random|uuidgen"
)


def _makefile_targets(text: str) -> Iterator[tuple[str, int, str]]:
    """(target, line number, recipe line) for each recipe line of a Makefile."""
    target = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^([A-Za-z0-9_.%$()/-]+)\s*:(?!=)", line)
        if header and not line.startswith("\t"):
            target = header.group(1)
        elif line.startswith("\t"):
            yield target, number, line.strip()


def _source_files() -> Iterator[Path]:
    for path in ROOT.rglob("*"):
        if any(part in SKIPPED_DIRS for part in path.relative_to(ROOT).parts) or not path.is_file():
            continue
        if path.suffix in {".py", ".sh", ".toml", ".cfg", ".ini"} or path.name in {"Procfile", "run", "Dockerfile"}:
            yield path


def test_make_demo_is_the_only_place_that_generates_a_secret_key() -> None:
    """``make run``, the settings, the Procfile, CI and the tests never invent a key."""
    makefile = (ROOT / "Makefile").read_text()
    generating = {
        (target, number)
        for target, number, line in _makefile_targets(makefile)
        if KEY_GENERATION.search(line) and not re.match(r"@?echo\b", line)  # advice printed is not a key
    }
    assert {target for target, _ in generating} == {"demo"}, generating
    demo_recipe = [line for target, _, line in _makefile_targets(makefile) if target == "demo"]
    assert any("DJANGO_SECRET_KEY=" in line for line in demo_recipe)

    offenders = []
    for path in _source_files():
        text = path.read_text(errors="replace")
        if path.suffix == ".py":
            # Calls only: the settings' error message may show the command as advice, in a string.
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Call) and KEY_GENERATION.search(ast.unparse(node.func)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        else:
            for number, line in enumerate(text.splitlines(), start=1):
                if KEY_GENERATION.search(line) and not re.match(r"\s*(#|@?echo\b|printf\b)", line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


# --- check --deploy ------------------------------------------------------------------------

PRODUCTION = {"DJANGO_SECRET_KEY": STRONG_KEY, "DJANGO_ALLOWED_HOSTS": "shop.example.com", "DJANGO_DEBUG": "0"}


def test_check_deploy_is_clean_with_debug_off() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**PRODUCTION))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("override", "warning"),
    [
        ({"DJANGO_HTTPS": "0"}, "security.W008"),  # plain HTTP: no redirect, no secure cookies, no HSTS
        ({"DJANGO_SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"DJANGO_SESSION_COOKIE_SECURE": "false"}, "security.W012"),
        ({"DJANGO_SECRET_KEY": "short"}, "security.W009"),
        ({"DJANGO_DEBUG": "1"}, "security.W018"),
    ],
)
def test_check_deploy_catches_each_weakened_setting(override: dict[str, str], warning: str) -> None:
    """The clean result above is not vacuous: each setting comes from the environment and is checked."""
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=clean_env(**{**PRODUCTION, **override}))

    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


def _https_settings(**extra: str) -> list[str]:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS > 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=clean_env(**extra), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_loopback_only_server_is_plain_http_and_a_public_one_is_https_only() -> None:
    """`make run` and `runserver` with nothing but a key must not redirect 127.0.0.1 to https; a
    server named for the outside world gets every HTTPS protection without being told."""
    assert _https_settings(DJANGO_SECRET_KEY=STRONG_KEY) == ["False", "False", "False"]
    assert _https_settings(DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_ALLOWED_HOSTS="localhost,[::1]") == ["False"] * 3
    assert _https_settings(**PRODUCTION) == ["True", "True", "True"]
    assert _https_settings(**{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "127.0.0.1,shop.example.com"}) == ["True"] * 3
    assert _https_settings(DJANGO_SECRET_KEY=STRONG_KEY, DJANGO_HTTPS="1") == ["True", "True", "True"]


def test_a_bad_security_flag_is_a_clear_error() -> None:
    result = manage("check", env=clean_env(**PRODUCTION, DJANGO_SECURE_SSL_REDIRECT="maybe"))

    assert result.returncode != 0
    assert "DJANGO_SECURE_SSL_REDIRECT must be one of" in result.stderr


# --- broker credentials --------------------------------------------------------------------


def _free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("scheme", ["amqp", "redis"])
def test_a_worker_that_cannot_reach_its_broker_never_prints_the_password(scheme: str) -> None:
    """A worker pointed at a closed port logs its connection errors, with the host but not the password."""
    password = f"leak-check-{uuid.uuid4().hex}"
    port = _free_port()
    url = (
        f"amqp://guest:{password}@127.0.0.1:{port}//" if scheme == "amqp" else f"redis://:{password}@127.0.0.1:{port}/9"
    )
    env = clean_env(DJANGO_SECRET_KEY=STRONG_KEY, CELERY_BROKER_URL=url)
    command = [sys.executable, "-m", "celery", "-A", "shop", "worker", "-n", f"leakcheck-{port}@%h", "-P", "solo"]
    command += ["--subscribers", "all", "--loglevel", "DEBUG", "--without-heartbeat", "--without-mingle"]
    worker = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    output = b""
    try:
        assert worker.stdout is not None
        os.set_blocking(worker.stdout.fileno(), False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and output.count(b"Cannot connect to") < 2 and worker.poll() is None:
            output += worker.stdout.read() or b""
            time.sleep(0.2)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            rest, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            rest, _ = worker.communicate(timeout=15)
        output += rest or b""

    text = output.decode(errors="replace")
    assert f"127.0.0.1:{port}" in text, text[-3000:]  # it did log the broker it tried
    assert "Cannot connect to" in text, text[-3000:]
    assert password not in text


#: Calls that print or log: logger.info(...), logging.warning(...), print(...), console.print(...).
_OUTPUT_CALLS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "print", "echo", "write"}
#: Functions that make a URL safe to show.
_MASKERS = {"display_url", "maybe_sanitize_url", "sanitize_url", "as_uri"}


def _mentions_broker_url(node: ast.AST) -> bool:
    """An expression that uses a broker URL, unless it passes through a masking function."""
    if isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in _MASKERS:
            return False
    if isinstance(node, ast.Name) and "broker_url" in node.id.lower():
        return True
    if isinstance(node, ast.Attribute) and "broker_url" in node.attr.lower():
        return True
    return any(_mentions_broker_url(child) for child in ast.iter_child_nodes(node))


def test_no_log_or_print_call_shows_a_raw_broker_url() -> None:
    """Over our source: nothing logged, printed or formatted into a message uses a broker URL unmasked."""
    offenders = []
    for package in PROJECT_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                leaks = False
                if isinstance(node, ast.Call):
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name in _OUTPUT_CALLS:
                        leaks = any(
                            _mentions_broker_url(arg) for arg in [*node.args, *[k.value for k in node.keywords]]
                        )
                elif isinstance(node, ast.JoinedStr):  # an f-string: it ends up in a message somewhere
                    leaks = any(
                        _mentions_broker_url(part.value) for part in node.values if isinstance(part, ast.FormattedValue)
                    )
                if leaks:
                    offenders.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}")
    assert offenders == []


def test_the_scan_above_would_catch_a_leak() -> None:
    leaky = ast.parse('logger.info("connecting to %s", settings.CELERY_BROKER_URL)\nf"to {broker_url}"')
    safe = ast.parse('logger.info("connecting to %s", display_url(broker_url))')

    calls = [n for n in ast.walk(leaky) if isinstance(n, ast.Call)]
    fstrings = [n for n in ast.walk(leaky) if isinstance(n, ast.JoinedStr)]
    assert any(_mentions_broker_url(arg) for call in calls for arg in call.args)
    assert any(_mentions_broker_url(part) for f in fstrings for part in f.values)
    assert not any(_mentions_broker_url(arg) for n in ast.walk(safe) if isinstance(n, ast.Call) for arg in n.args[1:])


def test_error_reports_mask_the_broker_password() -> None:
    """Django's DEBUG page and error e-mails list the settings; the broker URL's password is masked."""
    from django.views.debug import get_default_exception_reporter_filter

    url = "amqp://guest:s3cr3t-in-url@rabbit.internal:5672//"
    with override_settings(CELERY_BROKER_URL=url, SHOP_EXTRA={"urls": [url]}):
        shown = get_default_exception_reporter_filter().get_safe_settings()

    assert shown["CELERY_BROKER_URL"] == "amqp://guest:**@rabbit.internal:5672//"
    assert "s3cr3t-in-url" not in repr(shown)
    assert shown["SECRET_KEY"] != os.environ.get("DJANGO_SECRET_KEY")


# --- JSON only -----------------------------------------------------------------------------


def test_celery_sends_and_accepts_json_only() -> None:
    from shop.celery import app

    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert app.conf.event_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]
    assert app.conf.result_accept_content in (None, ["json"])  # None: falls back to accept_content


@pytest.mark.django_db
def test_event_consumers_accept_json_only() -> None:
    """The event consumer bootstep's kombu consumers refuse pickle, YAML and the rest."""
    from messaging.celery_adapter.worker import EventConsumerStep
    from shop.celery import app

    class Parent:
        pass

    parent: Any = Parent()
    parent.app = app
    step = EventConsumerStep(parent, subscribers="all")
    with Connection("memory://") as connection:
        consumers = step.get_consumers(connection.channel())

    assert consumers
    assert {frozenset(consumer.accept or ()) for consumer in consumers} == {frozenset({"application/json"})}


def test_event_consumers_pass_accept_json_in_the_source() -> None:
    """The same, read from the code: every kombu Consumer the worker builds says accept=["json"]."""
    tree = ast.parse((ROOT / "messaging" / "celery_adapter" / "worker.py").read_text())
    consumers = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Consumer"
    ]

    assert consumers
    for call in consumers:
        accept = {k.arg: k.value for k in call.keywords}.get("accept")
        assert accept is not None and ast.literal_eval(accept) == ["json"], ast.unparse(call)
