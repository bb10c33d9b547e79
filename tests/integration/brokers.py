"""Brokers the fault tests may stop and start: a RabbitMQ vhost of their own (the node is
stopped with ``rabbitmqctl stop_app``, which keeps its data), and a private Redis instance that
persists every write (``appendfsync always``), unlike the machine's cache-configured Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

RABBIT_VHOST = "shop_faults"
SPARE_REDIS_PORT = 6391


def wait_port(port: int, *, up: bool, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                is_up = True
        except OSError:
            is_up = False
        if is_up == up:
            return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not go {'up' if up else 'down'} in {timeout}s")


@dataclass
class RabbitMQ:
    """A vhost of its own on the machine's node: no other test's workers consume there."""

    vhost: str = RABBIT_VHOST

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"

    def prepare(self) -> None:
        subprocess.run(["rabbitmqctl", "add_vhost", self.vhost], capture_output=True, timeout=60)
        subprocess.run(
            ["rabbitmqctl", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def recreate(self) -> None:
        """The vhost, empty: what an earlier run declared there (a queue's type and arguments
        cannot change) is gone with it."""
        subprocess.run(["rabbitmqctl", "delete_vhost", self.vhost], capture_output=True, timeout=60)
        self.prepare()

    def stop(self) -> None:
        subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
        wait_port(5672, up=False)

    def start(self) -> None:
        subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
        wait_port(5672, up=True)
        subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=120)

    def close(self) -> None:
        self.start()


@dataclass
class PersistentRedis:
    port: int = SPARE_REDIS_PORT
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="shop-redis-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def prepare(self) -> None:
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port, up=True)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()  # SIGTERM: Redis flushes the append-only file and exits
        self.process.wait(timeout=30)
        wait_port(self.port, up=False)

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
