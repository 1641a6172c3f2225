"""Which isolation works on this machine, found by a real tiny sandboxed run, once per process
(and per SandboxHost: the caller says which bwrap, interpreter and user to use).

Fail closed: anything short of a passing self-test (bwrap missing, user namespaces
refused by the kernel or a container's seccomp/AppArmor profile, the interpreter
missing, the project visible inside, a network interface other than loopback...) means
no isolation, and grading refuses. A success is cached for the life of the process; a
failure is retried after RETRY_AFTER_FAILURE_S, so a transient failure (fork refused on a
loaded machine) does not disable a worker until it restarts.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from core.learning.sandbox import bubblewrap, seccomp
from core.learning.sandbox.reports import GradeReport, SandboxHost, SandboxLimits, SandboxUnavailable
from core.learning.sandbox.runner import run_harness

MECHANISM = "bubblewrap"
RETRY_AFTER_FAILURE_S = 60.0
PROBE_LIMITS = SandboxLimits(cpu_s=5, wall_s=10, memory_mb=256, processes=8, file_size_mb=1, output_kb=16, tmp_mb=1)
# Host paths that must never be visible in the sandbox, besides the host's own (the project and
# its virtualenv: SandboxHost.hidden).
ALWAYS_HIDDEN = ("/etc", "/home", "/root", "/var", "/run", "/proc", "/sys", "/usr/local/etc")
ALLOWED_ENVIRONMENT = ("PATH", "HOME", "TMPDIR", "LANG", "PWD", "LC_CTYPE")

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Probe:
    """One probe's verdict: a mechanism and its environment, or None and the reason why not."""

    mechanism: str | None
    environment: bubblewrap.Environment | None
    reason: str
    at: float


_lock = threading.Lock()
_probes: dict[SandboxHost, Probe] = {}


def isolation_available(host: SandboxHost) -> str | None:
    """The mechanism that confines submissions on this host ("bubblewrap"), or None."""
    return current_probe(host).mechanism


def require_isolation(host: SandboxHost) -> tuple[str, bubblewrap.Environment]:
    """The working mechanism and its environment; raises SandboxUnavailable (permanent) if
    there is none."""
    probe = current_probe(host)
    if probe.mechanism is None or probe.environment is None:
        raise SandboxUnavailable(f"Grading refused: no sandbox is available on this machine ({probe.reason}).",
                                 permanent=True)
    return probe.mechanism, probe.environment


def current_probe(host: SandboxHost) -> Probe:
    with _lock:
        probe = _probes.get(host)
        stale = probe is not None and probe.mechanism is None and time.monotonic() - probe.at > RETRY_AFTER_FAILURE_S
        if probe is None or stale:
            probe = _probes[host] = run_probe(host)
        return probe


def forget_probe() -> None:
    """Probe again on next use (after installing bubblewrap, or in tests)."""
    with _lock:
        _probes.clear()


def run_probe(host: SandboxHost) -> Probe:
    started = time.monotonic()
    try:
        hidden = [Path(path).resolve() for path in host.hidden]
        env = bubblewrap.resolve_environment(host.bwrap, host.python, host.user, hidden)
        env, report = self_test_run(env, hidden)
    except (bubblewrap.SandboxSetupError, SandboxUnavailable) as exc:
        return failed(str(exc), started)
    except Exception as exc:  # anything unforeseen also means: do not run submissions
        log.exception("sandbox.probe_crashed")
        return failed(f"the probe crashed: {exc!r}", started)
    if report.status != "passed":
        details = "; ".join(f"{t.name}: {t.reason}" for t in report.tests if t.status != "passed")
        return failed(f"the isolation self-test did not pass ({report.status}: {details or report.output})", started)
    log.info("sandbox.available", mechanism=MECHANISM, python=env.interpreter.executable,
             python_version=env.interpreter.version, user=env.credentials.name if env.credentials else None,
             disable_userns=env.disable_userns)
    return Probe(MECHANISM, env, "", started)


def self_test_run(env: bubblewrap.Environment, hidden: list[Path]) -> tuple[bubblewrap.Environment, GradeReport]:
    """Run the self-test, without --disable-userns if bwrap cannot start with it (containers).

    The self-test itself checks that no namespace can be created inside either way.
    """
    try:
        return env, run_harness(env, "", self_test(hidden), PROBE_LIMITS, MECHANISM)
    except SandboxUnavailable as exc:
        log.info("sandbox.disable_userns_unavailable", reason=str(exc))
        env = replace(env, disable_userns=False)
        return env, run_harness(env, "", self_test(hidden), PROBE_LIMITS, MECHANISM)


def failed(reason: str, started: float) -> Probe:
    log.warning("sandbox.unavailable", reason=reason)
    return Probe(None, None, reason, started)


def self_test(hidden: list[Path]) -> str:
    """Tests that pass only inside a working sandbox; the probe requires them to pass."""
    arch = seccomp.machine()
    ptrace = seccomp.DENIED["ptrace"][0 if arch == "x86_64" else 1]
    clone, new_user = seccomp.CLONE.get(arch, -1), 0x10000000
    must_not_exist = [str(p) for p in hidden] + list(ALWAYS_HIDDEN)
    return f'''
import ctypes, os, socket

def test_the_project_and_the_system_configuration_are_invisible():
    visible = [p for p in {must_not_exist!r} if os.path.exists(p)]
    assert not visible, "visible in the sandbox: %s" % visible

def test_the_environment_is_empty_and_the_user_unprivileged():
    assert set(os.environ) <= set({ALLOWED_ENVIRONMENT!r}), sorted(os.environ)
    assert os.getuid() != 0 and os.getppid() == 1

def test_only_loopback_networking_exists():
    assert [name for _, name in socket.if_nameindex()] == ["lo"], socket.if_nameindex()

def test_only_tmp_is_writable():
    with open("/tmp/probe", "w") as f:
        f.write("ok")
    for path in ("/probe", "/box/probe", "/usr/probe", "/dev/probe"):
        try:
            open(path, "w")
        except OSError:
            continue
        raise AssertionError(path + " is writable")

def test_the_seccomp_filter_denies_ptrace_and_new_user_namespaces():
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall({ptrace}, 0, 0, 0, 0) == -1 and ctypes.get_errno() == 1, "ptrace is allowed"
    child = libc.syscall({clone}, {new_user} | 17, 0, 0, 0, 0)  # clone(CLONE_NEWUSER | SIGCHLD)
    if child == 0:
        os._exit(0)
    assert child == -1, "a nested user namespace could be created"
'''
