"""The wheel holds every project app with everything it reads at run time.

``pip install .`` (not editable) once left out the ``payments`` app: pyproject.toml's
``[tool.setuptools.packages.find]`` listed the apps by hand and one was forgotten. Nothing else
noticed, because the editable install used by development and tests imports from the source
tree. So this builds the real wheel, once per module, and compares it with INSTALLED_APPS and
with the files present in the source tree (migrations, templates, static files, any data file).

The build runs on a copy of the source tree: setuptools writes build/ and *.egg-info next to
pyproject.toml, and a stale build/lib left there could put deleted files into the wheel.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from django.apps import apps

REPO = Path(__file__).resolve().parents[2]
#: Never copied into the build: environments, caches, build output, local data.
IGNORED = (".venv", ".git", "var", "build", "test-artifacts", "*.egg-info", "__pycache__", ".*_cache", "*.pyc")


def _can_build_without_isolation() -> bool:
    """setuptools builds wheels itself from 70.1 on (before that it needed the ``wheel`` package)."""
    try:
        return importlib.util.find_spec("setuptools.command.bdist_wheel") is not None
    except ModuleNotFoundError:  # no setuptools at all
        return False


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The names in the wheel built from a copy of this source tree."""
    source = tmp_path_factory.mktemp("source") / "shop-flows"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*IGNORED))
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet", "-w", str(out)]
    if _can_build_without_isolation():
        command.append("--no-build-isolation")  # offline and quick; else pip fetches setuptools
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, f"building the wheel failed:\n{result.stdout}\n{result.stderr}"
    (built,) = out.glob("*.whl")
    with zipfile.ZipFile(built) as archive:
        return set(archive.namelist())


def project_apps() -> dict[str, Path]:
    """INSTALLED_APPS whose modules live in this repository: app name -> its directory."""
    found = {}
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(REPO) and not path.is_relative_to(REPO / ".venv"):
            found[config.name] = path
    return found


def source_files(app_dir: Path) -> list[str]:
    """Every file of an app in the source tree, as wheel names (e.g. ``lesson/static/web/x.js``)."""
    return sorted(
        path.relative_to(REPO).as_posix()
        for path in app_dir.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )


def test_the_project_apps_are_found() -> None:
    # Guards the test itself: if no app were found, every check below would pass vacuously.
    assert {"core", "lesson", "catalog", "orders", "inventory", "payments"} <= set(project_apps())


#: Top-level packages that are not Django apps: the project, the messaging kernel and its
#: adapters, the message contracts, the HTTP API.
LIBRARIES = {"shop", "messaging", "contracts", "api"}


def test_every_project_app_is_in_the_wheel_with_its_migrations(wheel: set[str]) -> None:
    missing_apps = [name for name in project_apps() if f"{name.replace('.', '/')}/__init__.py" not in wheel]
    assert not missing_apps, f"apps in INSTALLED_APPS but not in the wheel: {missing_apps} (pyproject.toml)"
    for name, path in project_apps().items():
        if not (path / "models.py").exists() and not (path / "models").is_dir():
            continue  # no tables, no migrations: the teaching layer (lesson)
        migrations = sorted(p.relative_to(REPO).as_posix() for p in (path / "migrations").glob("*.py"))
        assert migrations, f"{name} has no migrations in the source tree"
        assert not [m for m in migrations if m not in wheel], f"{name}'s migrations are missing from the wheel"


def test_every_file_of_every_app_is_in_the_wheel(wheel: set[str]) -> None:
    """Templates, static files and any other data an app reads (JSON schemas, ...), not only modules."""
    missing = [name for path in project_apps().values() for name in source_files(path) if name not in wheel]
    assert not missing, f"in the source tree but not in the wheel (pyproject.toml package-data?): {missing}"


def test_the_templates_and_static_files_are_there(wheel: set[str]) -> None:
    # The kinds of data file the apps have today, named, so the check above cannot quietly shrink.
    assert "lesson/static/web/walkthrough.js" in wheel
    assert "lesson/templates/web/walkthrough.html" in wheel
    assert "orders/templates/admin/orders/order/timeline.html" in wheel


def test_the_wheel_holds_nothing_but_the_apps(wheel: set[str]) -> None:
    """No tests, benchmarks or docs installed as top-level packages into site-packages: the apps,
    the project package and the packages the apps import (messaging, the contracts, the API)."""
    tops = {name.split("/", 1)[0] for name in wheel if not name.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {name.split(".", 1)[0] for name in project_apps()} | LIBRARIES
