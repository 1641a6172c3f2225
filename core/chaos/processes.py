"""Child processes whose output goes to log files: the chaos run's topology, and the tests'."""

from __future__ import annotations

import contextlib
import os
import subprocess
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


class Process:
    """A child process in its own session, its output in `<log_dir>/<name>.log`."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path, cwd: Path) -> None:
        self.name = name
        self.args, self.env, self.cwd = args, env, cwd
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.args, cwd=self.cwd, env=self.env, stdout=self._log,  # noqa: S603
                                stderr=subprocess.STDOUT, start_new_session=True)

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
