"""Child processes whose output goes to log files: the chaos run's topology, and the tests'."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_until(condition: Callable[[], Any], timeout: float = 30, interval: float = 0.05,
               message: str = "condition") -> Any:
    """Poll `condition` until it is truthy; AssertionError naming `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the thread that started it exits (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Process:
    """A child process in its own session, its output in `<log_dir>/<name>.log`.

    With `die_with_parent`, the kernel kills it when the thread that started it ends, so a test
    run killed outright (SIGKILL, or SIGTERM, which skips its clean-up) leaves no relay or
    worker behind to consume the next run's events. Only for processes started by a thread
    that outlives them (the tests' main thread), not by a short-lived one.
    """

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, cwd: Path,
                 die_with_parent: bool = False) -> None:
        self.name = name
        self.args, self.env, self.cwd = args, env, cwd
        self.die_with_parent = die_with_parent and sys.platform == "linux"
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=self._log,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent if self.die_with_parent else None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 30, after: int = 0) -> None:
        """Wait until `text` appears in the log (past byte offset `after`); fail if the process exits first."""

        def seen() -> bool:
            if text in self.output()[after:]:
                return True
            if self.popen.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.popen.returncode}):\n{self.output()[-3000:]}")
            return False

        wait_until(seen, timeout, 0.1, f"{text!r} in {self.name}'s output")

    def signal(self, signum: int) -> None:
        """Send `signum` to the process group (the process and its children, e.g. pool workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def restart(self) -> None:
        """Start the same command again (after it died or was killed)."""
        if self.alive():
            self.stop()
        self.popen = self._spawn()

    def stop(self, timeout: float = 15) -> int:
        if self.popen.poll() is None:
            self.signal(15)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(9)
                self.popen.wait(5)
        self._log.flush()
        return self.popen.returncode
