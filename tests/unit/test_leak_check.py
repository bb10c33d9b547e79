"""The leak check (tests/leaks.py) fails a run that leaves a worker behind, and names it.

A small suite of one test starts a real Celery worker process, waits until it is ready, and
returns without stopping it. That suite, run by its own pytest with the leak check loaded, must
fail with an error naming the worker (pid and command line), and the worker must be gone
afterwards: the check kills what it finds, so the next tier starts clean.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.leaks import RUN_MARK

ROOT = Path(__file__).resolve().parents[2]

LEAKY_SUITE = """
import os, subprocess, sys, time

def test_starts_a_worker_and_forgets_it():
    env = {**os.environ, "CELERY_BROKER_URL": "memory://", "DJANGO_SETTINGS_MODULE": "tests.settings",
           "PYTHONPATH": ROOT}
    command = [sys.executable, "-m", "celery", "-A", "shop", "worker", "--pool", "solo", "-n", "leaked@%h",
               "--without-mingle", "--without-gossip", "--without-heartbeat", "--loglevel", "INFO"]
    log = open(LOG, "wb")
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    open(PID_FILE, "w").write(str(worker.pid))
    deadline = time.monotonic() + 60
    while b" ready." not in open(LOG, "rb").read():
        assert worker.poll() is None and time.monotonic() < deadline, open(LOG).read()
        time.sleep(0.1)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_run_that_leaks_a_worker_fails_and_names_it(tmp_path: Path) -> None:
    pid_file, log = tmp_path / "worker.pid", tmp_path / "worker.log"
    suite = tmp_path / "test_leaky.py"
    constants = f"ROOT = {str(ROOT)!r}\nLOG = {str(log)!r}\nPID_FILE = {str(pid_file)!r}\n"
    suite.write_text(constants + LEAKY_SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {key: value for key, value in os.environ.items() if key != RUN_MARK}

    plugins = ["-p", "tests.leaks", "-p", "no:django", "-p", "no:cacheprovider"]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *plugins,
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(suite),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    output = run.stdout + run.stderr
    pid = int(pid_file.read_text())
    assert run.returncode == 1, output
    assert "1 passed, 1 error" in output, output
    assert "process(es) started by this test run were still alive at its end" in output, output
    named = [line for line in output.splitlines() if line.strip().startswith(f"pid {pid}:")]
    assert named and "celery" in named[0] and "leaked@" in named[0], output
    assert not alive(pid), "the leak check kills what it found"
