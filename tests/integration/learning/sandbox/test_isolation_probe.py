"""isolation_available(): a real tiny run, probed once per process, failing closed."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from core.learning.sandbox import SandboxUnavailable, grade, isolation_available, probe, runner
from tests.helpers.sandbox import FAST, HOST


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    """Forget the cached probe before and after, so other tests see this machine's real one."""
    probe.forget_probe()
    yield
    probe.forget_probe()


def test_bubblewrap_is_the_isolation_available_here(fresh_probe: None) -> None:
    assert isolation_available(HOST) == "bubblewrap"
    environment = probe.current_probe(HOST).environment
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

    assert [isolation_available(HOST) for _ in range(3)] == ["bubblewrap"] * 3
    grade("x = 1\n", "def test_x():\n    pass\n", FAST, HOST)

    assert len(runs) == 1


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("bwrap", "/nonexistent/bwrap", "bubblewrap is not installed"),
    ("python", "/nonexistent/python3", "interpreter /nonexistent/python3 does not exist"),
    ("bwrap", "/bin/false", "the sandbox did not start"),
])
def test_without_working_isolation_grading_refuses_and_runs_nothing(
        fresh_probe: None, tmp_path: Path, field: str, value: str, reason: str) -> None:
    host = replace(HOST, bwrap=value) if field == "bwrap" else replace(HOST, python=value)
    marker = tmp_path / "ran"

    assert isolation_available(host) is None
    with pytest.raises(SandboxUnavailable, match="Grading refused") as refused:
        grade(f"open({str(marker)!r}, 'w').write('unconfined!')\n", "import solution\ndef test_x():\n    pass\n",
              FAST, host)

    assert reason in str(refused.value)
    assert refused.value.permanent
    assert not marker.exists()


def test_an_interpreter_inside_the_project_is_refused(fresh_probe: None, settings) -> None:
    host = replace(HOST, python=str(Path(settings.BASE_DIR) / ".venv" / "bin" / "python"))

    assert isolation_available(host) is None
    assert "lies inside" in probe.current_probe(host).reason


def test_a_failed_probe_is_retried_after_a_while(fresh_probe: None, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tempfile.mkdtemp(prefix="ferry-bwrap-")  # readable by the sandbox user, unlike tmp_path
    os.chmod(directory, 0o755)
    bwrap = Path(directory) / "bwrap"
    host = replace(HOST, bwrap=str(bwrap))
    assert isolation_available(host) is None  # not installed yet
    bwrap.symlink_to("/usr/bin/bwrap")
    assert isolation_available(host) is None  # still cached

    monkeypatch.setattr(probe, "RETRY_AFTER_FAILURE_S", 0.0)

    assert isolation_available(host) == "bubblewrap"
    shutil.rmtree(directory)


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
        fresh_probe: None, container_bwrap: str) -> None:
    host = replace(HOST, bwrap=container_bwrap)

    assert isolation_available(host) == "bubblewrap"  # the self-test proved nested namespaces fail

    environment = probe.current_probe(host).environment
    assert environment is not None
    assert environment.disable_userns is False
    tests = "import solution\ndef test_x():\n    assert solution.add(1, 1) == 2\n"
    report = grade("def add(a, b):\n    return a + b\n", tests, FAST, host)
    assert report.status == "passed"
