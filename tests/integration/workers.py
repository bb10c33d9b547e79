"""Real Celery worker processes, one per service, started from the Procfile's own lines.

The integration tier runs exactly what ``make run`` runs, against a real broker and the
test database, so routing, serialization, acknowledgement and fanout are the real thing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / "var" / "test-workers"
LOCK_TIMEOUT = 900
#: Machine-wide (not per checkout): the brokers are shared by every clone on this machine.
BROKER_LOCK = Path(tempfile.gettempdir()) / "shop-flows-brokers.lock"


def lock_brokers() -> int:
    """Serialize test runs that use real brokers on this machine.

    Two runs would share the same queues, and each run's workers would take the other's
    messages (and write them to the other run's database). Returns the lock's descriptor.
    """
    fd = os.open(BROKER_LOCK, os.O_RDWR | os.O_CREAT)
    deadline = time.monotonic() + LOCK_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RuntimeError("another test run has held the broker lock for 15 minutes") from None
            time.sleep(0.2)  # shorter than the fault tier's courtesy pause between its runs


def kill_leftovers(pid_file: Path) -> None:
    """Stop workers a crashed earlier run left behind (their process groups are in pid_file)."""
    if not pid_file.exists():
        return
    for pid in pid_file.read_text().split():
        with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
            os.killpg(int(pid), signal.SIGKILL)
    pid_file.unlink()


def procfile() -> dict[str, str]:
    """Process name -> its command, as the Procfile has them (shell syntax and all)."""
    lines = (line.partition(":") for line in (ROOT / "Procfile").read_text().splitlines())
    return {name.strip(): command.strip() for name, _, command in lines if name.strip()}


def procfile_workers() -> dict[str, list[str]]:
    """Service name -> worker command line, read from the Procfile (web and relay excluded)."""
    return {name: shlex.split(command) for name, command in procfile().items() if command.startswith("celery")}


def database_url() -> str:
    """The URL of the database the tests are using right now (the test database)."""
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    user = settings.get("USER") or "postgres"
    password = f":{settings['PASSWORD']}" if settings.get("PASSWORD") else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"


@dataclass
class WorkerGroup:
    broker: str
    broker_url: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Also run the outbox relay (Procfile ``relay``): it publishes timers when they are due
    #: (the saga deadline) and whatever a fast path left behind.
    relay: bool = False
    relay_process: subprocess.Popen[bytes] | None = None
    #: The benchmarks (bench/) run the same processes with their own settings module.
    settings_module: str = "tests.settings"
    #: Set for every process of the group, whenever it is (re)started (the fault tier's settings).
    extra_env: dict[str, str] = field(default_factory=dict)

    def log_path(self, service: str) -> Path:
        return LOG_DIR / f"{self.broker}-{service}.log"

    @property
    def pid_file(self) -> Path:
        return LOG_DIR / f"{self.broker}.pids"

    def start(self, timeout: float = 60) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        kill_leftovers(self.pid_file)
        for service in self.services():
            self.spawn(service, service)
        self.wait_ready(list(self.processes), timeout)
        if self.relay:
            self.relay_process = subprocess.Popen(  # redelivery is the fault tier's business
                [sys.executable, "manage.py", "relay_outbox", "--interval", "0.2", "--redeliver-every", "0"],
                cwd=ROOT,
                env=self.env(),
                stdout=self.log_path("relay").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self.pid_file.write_text(" ".join(str(p.pid) for p in [*self.processes.values(), self.relay_process]))

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.extra_env,
            "CELERY_BROKER_URL": self.broker_url,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "PYTHONPATH": str(ROOT),
            # A "slow issuer" card (token ending 0003) answers after this long: longer than
            # the deadline the saga timeout scenario sets, far shorter than the default one.
            "SHOP_PAYMENT_SLOW_SECONDS": os.environ.get("SHOP_PAYMENT_SLOW_SECONDS", "4"),
        }

    def services(self) -> list[str]:
        return list(procfile_workers())

    def command(self, service: str) -> list[str]:
        """The worker's command line: the Procfile's, unless a subclass runs something else."""
        return procfile_workers()[service]

    def spawn(self, name: str, service: str) -> None:
        """Start one worker process for ``service``, known here as ``name``."""
        env = self.env()
        argv = [sys.executable, "-m", *self.command(service), "-n", f"{name}-{self.broker}@%h"]
        log = self.log_path(name).open("wb")
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid_file.write_text(" ".join(str(p.pid) for p in self.processes.values()))

    def wait_ready(self, names: list[str], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            proc = self.processes[name]
            while b" ready." not in self.log_path(name).read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = self.log_path(name).read_text(errors="replace")[-3000:]
                    self.stop()
                    raise RuntimeError(f"{name} worker on {self.broker} did not start:\n{tail}")
                time.sleep(0.2)

    def stop_one(self, name: str) -> None:
        proc = self.processes.pop(name)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

    def stop(self) -> None:
        if self.relay_process is not None:
            self.processes["relay"] = self.relay_process
            self.relay_process = None
        for proc in self.processes.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()
        self.pid_file.unlink(missing_ok=True)
