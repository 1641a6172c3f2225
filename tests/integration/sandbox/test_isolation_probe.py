"""isolation_available(): a real tiny run, probed once per process, failing closed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from core.learning.sandbox import SandboxUnavailable, grade, isolation_available, probe, runner
from tests.integration.sandbox.conftest import FAST


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    """Forget the cached probe before and after, so other tests see this machine's real one."""
    probe.forget_probe()
    yield
    probe.forget_probe()


def test_bubblewrap_is_the_isolation_available_here(fresh_probe: None) -> None:
    assert isolation_available() == "bubblewrap"
    environment = probe.current_probe().environment
    assert environment is not None
    assert environment.interpreter.executable.startswith("/usr/")
    if os.geteuid() == 0:  # a root worker runs submissions as the dedicated unprivileged user
        assert environment.credentials is not None
        assert environment.credentials.uid != 0
    else:
        assert environment.credentials is None


def test_the_probe_runs_once_per_process(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = []

    def counting_run(*args):
        runs.append(args)
        return runner.run_harness(*args)

    monkeypatch.setattr(probe, "run_harness", counting_run)

    assert [isolation_available() for _ in range(3)] == ["bubblewrap"] * 3
    grade("x = 1\n", "def test_x():\n    pass\n", FAST)

    assert len(runs) == 1


@pytest.mark.parametrize(("setting", "value", "reason"), [
    ("SANDBOX_BWRAP", "/nonexistent/bwrap", "bubblewrap is not installed"),
    ("SANDBOX_PYTHON", "/nonexistent/python3", "interpreter /nonexistent/python3 does not exist"),
    ("SANDBOX_BWRAP", "/bin/false", "the sandbox did not start"),
])
def test_without_working_isolation_grading_refuses_and_runs_nothing(
        fresh_probe: None, settings, tmp_path, setting: str, value: str, reason: str) -> None:
    setattr(settings, setting, value)
    marker = tmp_path / "ran"

    assert isolation_available() is None
    with pytest.raises(SandboxUnavailable, match="Grading refused") as refused:
        grade(f"open({str(marker)!r}, 'w').write('unconfined!')\n", "import solution\ndef test_x():\n    pass\n", FAST)

    assert reason in str(refused.value)
    assert not marker.exists()


def test_an_interpreter_inside_the_project_is_refused(fresh_probe: None, settings) -> None:
    venv_python = settings.BASE_DIR / ".venv" / "bin" / "python"
    settings.SANDBOX_PYTHON = str(venv_python)

    assert isolation_available() is None
    assert "lies inside" in probe.current_probe().reason


def test_a_failed_probe_is_retried_after_a_while(fresh_probe: None, settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.SANDBOX_BWRAP = "/nonexistent/bwrap"
    assert isolation_available() is None
    settings.SANDBOX_BWRAP = "/usr/bin/bwrap"
    assert isolation_available() is None  # still cached

    monkeypatch.setattr(probe, "RETRY_AFTER_FAILURE_S", 0.0)

    assert isolation_available() == "bubblewrap"


CONTAINER_BWRAP = """#!/bin/sh
# bwrap as it behaves in a container, where /proc/sys is read-only.
for arg in "$@"; do
  if [ "$arg" = "--disable-userns" ]; then
    echo "bwrap: cannot open /proc/sys/user/max_user_namespaces: Read-only file system" >&2
    exit 1
  fi
done
exec /usr/bin/bwrap "$@"
"""


@pytest.fixture
def container_bwrap() -> Iterator[str]:
    """A bwrap that refuses --disable-userns, in a directory the sandbox user can read."""
    directory = tempfile.mkdtemp(prefix="ferry-bwrap-")
    os.chmod(directory, 0o755)
    script = os.path.join(directory, "bwrap")
    with open(script, "w") as f:
        f.write(CONTAINER_BWRAP)
    os.chmod(script, 0o755)
    yield script
    shutil.rmtree(directory)


def test_where_bwrap_cannot_disable_user_namespaces_seccomp_still_denies_them(
        fresh_probe: None, settings, container_bwrap: str) -> None:
    settings.SANDBOX_BWRAP = container_bwrap

    assert isolation_available() == "bubblewrap"  # the self-test proved nested namespaces fail

    environment = probe.current_probe().environment
    assert environment is not None
    assert environment.disable_userns is False
    tests = "import solution\ndef test_x():\n    assert solution.add(1, 1) == 2\n"
    report = grade("def add(a, b):\n    return a + b\n", tests, FAST)
    assert report.status == "passed"
