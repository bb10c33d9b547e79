"""A private PostgreSQL cluster for the fault tier, which stops, restarts and starves its database.

The machine's PostgreSQL (port 5432) is shared with everything else on it; a test never stops it.
``make test-faults`` sets ``SHOP_TEST_PRIVATE_POSTGRES=1`` and the whole fault tier then runs on
a cluster of its own, created for the session with Debian's ``pg_createcluster`` on a free port
and dropped at the end (tests/conftest.py, ``django_db_modify_db_settings``): the test database,
every worker, the relay and the web process live there, so the database faults hit all of them.

It runs with ``fsync=off``: the tier is about messages, not about the disk, and every stop here is
a clean (fast) shutdown, which loses nothing with or without fsync. And with ``ssl=off``, like the
machine's server: Debian's default (on) cost a TLS handshake per connection.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

ENABLE_ENV = "SHOP_TEST_PRIVATE_POSTGRES"
PORTS = range(5440, 5500)
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"


def wanted() -> bool:
    return os.environ.get(ENABLE_ENV, "") == "1"


def missing_tools() -> str | None:
    for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian's postgresql-common): no private cluster for the fault tier"
    if os.geteuid() != 0:
        return "creating a PostgreSQL cluster needs root (pg_createcluster)"
    return None


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1} for a private PostgreSQL")


def _run(*argv: str, timeout: float = 120) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@dataclass
class Cluster:
    version: str
    name: str
    port: int

    @classmethod
    def create(cls) -> Cluster:
        versions = sorted(Path("/usr/lib/postgresql").iterdir(), key=lambda p: int(p.name.split(".")[0]))
        cluster = cls(versions[-1].name, f"shopfaults{os.getpid()}", _free_port())
        _run(
            "pg_createcluster",
            cluster.version,
            cluster.name,
            "--port",
            str(cluster.port),
            "-o",
            "fsync=off",
            "-o",
            "full_page_writes=off",
            "-o",
            "ssl=off",  # as the shared server here: a TLS handshake per connection made every run slower
        )
        try:
            Path(f"/etc/postgresql/{cluster.version}/{cluster.name}/pg_hba.conf").write_text(HBA)
            cluster.start()
        except BaseException:
            cluster.drop()
            raise
        return cluster

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def connect(self, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
        """A connection of the test's own (autocommit), to watch or to starve the server."""
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5, **kwargs)  # type: ignore[arg-type]

    def is_up(self) -> bool:
        try:
            with self.connect() as conn:
                conn.execute("select 1")
            return True
        except psycopg.OperationalError:
            return False

    def start(self, timeout: float = 60) -> None:
        _run("pg_ctlcluster", self.version, self.name, "start")
        deadline = time.monotonic() + timeout
        while not self.is_up():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the private PostgreSQL on {self.port} did not accept connections in {timeout}s")
            time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown: open transactions roll back, connections are cut."""
        _run("pg_ctlcluster", self.version, self.name, "stop", "-m", "fast")

    def restart(self) -> None:
        self.stop()
        self.start()

    def set(self, setting: str, value: str | None) -> None:
        """``ALTER SYSTEM SET`` (``RESET`` for None); some settings need ``restart()`` after."""
        with self.connect() as conn:
            if value is None:
                conn.execute(f"ALTER SYSTEM RESET {setting}")
            else:
                conn.execute(f"ALTER SYSTEM SET {setting} = '{value}'")

    def drop(self) -> None:
        with contextlib.suppress(RuntimeError):
            _run("pg_dropcluster", "--stop", self.version, self.name)


#: The session's cluster, once created (tests/conftest.py).
CLUSTER: Cluster | None = None
