"""Hostile submissions: each is contained, reported, and leaves the worker alive and clean."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from django.conf import settings

from core.learning.sandbox import grade, seccomp
from tests.helpers.processes import wait_until
from tests.helpers.sandbox import FAST, HOST, grade_in_worker, outcome

SPIN = "def spin():\n    while True:\n        pass\n"


def test_an_infinite_loop_times_out_at_the_cpu_limit() -> None:
    started = time.monotonic()
    result = grade_in_worker(SPIN, "import solution\ndef test_spins():\n    solution.spin()\n"
                                   "def test_after():\n    assert True\n")

    report = result.report
    assert report.status == "timed_out"
    assert outcome(report, "test_spins").status == "timed_out"
    assert outcome(report, "test_spins").reason == "CPU time limit exceeded (1 s)"
    assert outcome(report, "test_after").status == "passed"
    assert time.monotonic() - started < FAST.wall_s
    assert result.exit_status == 0
    assert result.leftovers == []


def test_ignoring_the_cpu_limit_signal_only_delays_the_kill_by_a_second() -> None:
    source = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n" + SPIN
    report = grade_in_worker(source, "import solution\ndef test_spins():\n    solution.spin()\n").report

    assert report.status == "timed_out"
    assert report.tests[0].reason == "CPU time limit exceeded (1 s)"


def test_a_sleeping_submission_times_out_at_the_wall_clock_limit() -> None:
    limits = replace(FAST, wall_s=2)
    result = grade_in_worker("import time\ntime.sleep(3600)\n", "import solution\ndef test_x():\n    pass\n", limits)

    assert result.report.status == "timed_out"
    assert result.report.tests[0].reason == "wall-clock limit exceeded (2 s)"
    assert result.report.duration_ms < 2000 + 3000
    assert result.leftovers == []


def test_an_infinite_loop_at_import_times_out_once_not_once_per_test() -> None:
    tests = "import solution\n" + "".join(f"def test_{i}():\n    pass\n" for i in range(5))
    report = grade_in_worker("while True:\n    pass\n", tests).report

    assert report.status == "timed_out"
    assert [t.status for t in report.tests] == ["timed_out"] * 5
    assert report.tests[0].reason == "CPU time limit exceeded (1 s)"
    assert all(t.reason.startswith("not run") and t.duration_ms == 0 for t in report.tests[1:])
    assert "did not finish importing" in report.output


FORK_BOMB = """
import os

def bomb():
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""


def test_a_fork_bomb_is_contained_and_nothing_of_it_survives() -> None:
    # Six processes at most (the harness, the test, four forks): bounded on a shared machine.
    limits = replace(FAST, processes=6)
    tests = "import solution\ndef test_bombs():\n    solution.bomb()\ndef test_after_the_bomb():\n    assert True\n"
    result = grade_in_worker(FORK_BOMB, tests, limits)

    report = result.report
    assert outcome(report, "test_bombs").status in ("timed_out", "error")
    assert report.status in ("timed_out", "error")
    # The next test ran in a clean sandbox: the bomb's processes were gone and uncounted.
    assert outcome(report, "test_after_the_bomb").status == "passed"
    assert result.exit_status == 0
    assert result.leftovers == []


def test_a_fork_bomb_that_gives_up_reports_the_process_limit() -> None:
    source = "import os, time\ndef bomb():\n    while True:\n        if os.fork() == 0:\n            time.sleep(60)\n"
    result = grade_in_worker(source, "import solution\ndef test_bombs():\n    solution.bomb()\n")

    assert result.report.status == "error"
    assert result.report.tests[0].reason.endswith(f"(process limit: {FAST.processes})")
    assert result.leftovers == []


def test_a_daemonised_child_does_not_outlive_grading() -> None:
    source = """
import os, time
def daemonise():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(3600)
        os._exit(0)
"""
    result = grade_in_worker(source, "import solution\ndef test_daemon():\n    solution.daemonise()\n")

    assert result.report.status == "passed"
    assert result.leftovers == []


def test_allocating_ten_gigabytes_is_an_error_about_memory_and_quick() -> None:
    source = "def hoard():\n    return bytearray(10 * 1024 ** 3)\n"
    tests = "import solution\ndef test_hoards():\n    solution.hoard()\ndef test_grows():\n    x = []\n" \
            "    while True:\n        x.append(bytearray(1024 * 1024))\n"
    started = time.monotonic()
    report = grade_in_worker(source, tests).report

    assert report.status == "error"
    assert [t.reason for t in report.tests] == [f"memory limit exceeded ({FAST.memory_mb} MB)"] * 2
    assert "memory limit exceeded" in report.output
    assert time.monotonic() - started < 5


def test_writing_a_huge_file_hits_the_file_size_limit() -> None:
    source = """
def fill():
    with open("huge.bin", "wb") as f:
        for _ in range(10 * 1024):
            f.write(b"x" * 1024 * 1024)
"""
    report = grade_in_worker(source, "import solution\ndef test_fills():\n    solution.fill()\n").report

    assert report.status == "error"
    assert report.tests[0].reason == f"file size limit exceeded ({FAST.file_size_mb} MB)"
    assert "file size limit exceeded" in report.output


def test_many_files_fill_only_the_sandboxs_small_tmp() -> None:
    source = """
def fill():
    for i in range(100):
        with open(f"/tmp/part{i}", "wb") as f:
            f.write(b"x" * (1024 * 1024 - 1))
"""
    report = grade_in_worker(source, "import solution\ndef test_fills():\n    solution.fill()\n").report

    assert report.tests[0].reason == f"the temporary directory is full ({FAST.tmp_mb} MB)"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP server on the host's loopback that nothing in the sandbox may reach."""
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


@pytest.fixture
def abstract_listener() -> Iterator[str]:
    """A Unix socket in the host's abstract namespace (no file to hide: only a network namespace does)."""
    name = f"ferry-sandbox-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX)
    server.bind("\0" + name)
    server.listen()
    yield name
    server.close()


def test_the_network_is_unreachable_from_the_sandbox(listener: socket.socket, abstract_listener: str) -> None:
    host_port = listener.getsockname()[1]
    pg_port = settings.DATABASES["default"]["PORT"]
    socket.create_connection(("127.0.0.1", host_port), timeout=1).close()  # the host can reach it
    listener.accept()[0].close()
    tests = f"""
import socket

def connect(address):
    with socket.socket() as s:
        s.settimeout(2)
        s.connect(address)

def test_the_hosts_abstract_unix_sockets_are_not_there():
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect("\\0" + {abstract_listener!r})
        except ConnectionRefusedError:
            return
    raise AssertionError("connected to the host's abstract socket")

def test_the_hosts_loopback_services_are_not_there():
    for port in ({host_port}, {pg_port}):
        try:
            connect(("127.0.0.1", int(port)))
        except ConnectionRefusedError:
            continue
        raise AssertionError("connected to port %s" % port)

def test_the_internet_is_unreachable():
    for address in (("1.1.1.1", 80), ("8.8.8.8", 53)):
        try:
            connect(address)
        except OSError as exc:
            assert exc.errno == 101, exc  # ENETUNREACH: no route, no interface
            continue
        raise AssertionError("connected to %s" % (address,))

def test_names_do_not_resolve():
    try:
        socket.getaddrinfo("example.com", 80)
    except socket.gaierror:
        return
    raise AssertionError("resolved example.com")

def test_only_a_private_loopback_exists():
    assert [name for _, name in socket.if_nameindex()] == ["lo"]
"""
    report = grade_in_worker("", tests).report

    assert report.status == "passed", report.output
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing from the sandbox ever connected


def test_the_apps_settings_code_and_secrets_are_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "sentinel-secret-key-4711")
    monkeypatch.setenv("DATABASE_URL", "postgres://sentinel:sentinel-password-4711@127.0.0.1/ferry")
    settings_file = os.path.join(settings.BASE_DIR, "core", "config", "settings.py")
    tests = f"""
import os, sys

def test_the_settings_file_and_checkout_cannot_be_read():
    for path in ({settings_file!r}, {str(settings.BASE_DIR)!r}, {sys.prefix!r}, "/proc/1/environ",
                 "/proc/self/environ", "/etc/passwd", "/root", "/home"):
        try:
            open(path).read()
        except OSError:
            continue
        raise AssertionError("read " + path)

def test_the_environment_holds_no_secrets():
    print(sorted(os.environ.items()))
    assert "SECRET_KEY" not in os.environ and "DATABASE_URL" not in os.environ
    assert set(os.environ) <= {{"PATH", "HOME", "TMPDIR", "LANG", "PWD"}}

def test_django_and_the_project_cannot_be_imported():
    for module in ("django", "core.config.settings", "psycopg"):
        try:
            __import__(module)
        except ImportError:
            continue
        raise AssertionError("imported " + module)
"""
    report = grade_in_worker("", tests).report

    assert report.status == "passed", report.output
    everything = str(report.to_dict())
    assert "sentinel" not in everything
    assert "PATH" in outcome(report, "test_the_environment_holds_no_secrets").output


KILLER = """
import os, signal

def kill_everything():
    os.kill(os.getppid(), signal.SIGKILL)  # the harness: PID 1 of the sandbox, immune
    os.kill(1, signal.SIGTERM)
    try:
        os.kill(-1, signal.SIGKILL)  # everything but itself that it can see
    except ProcessLookupError:
        pass  # there is nothing else to see
    for pid in range(2, 40000):  # guessing the worker's pid: it is not in this PID namespace
        if pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    os.killpg(0, signal.SIGKILL)  # its own process group, itself included
"""


def test_killing_its_parent_kills_only_the_submission() -> None:
    tests = "import solution\ndef test_kills():\n    solution.kill_everything()\ndef test_after():\n    assert True\n"
    result = grade_in_worker(KILLER, tests)

    report = result.report
    assert outcome(report, "test_kills").status == "error"
    assert outcome(report, "test_kills").reason == "the test process was killed by SIGKILL"
    assert outcome(report, "test_after").status == "passed"  # the harness lived on
    assert result.exit_status == 0
    assert result.leftovers == []


def test_the_file_system_is_read_only_outside_tmp() -> None:
    tests = """
import os

def test_only_tmp_is_writable():
    with open("/tmp/ok", "w") as f:
        f.write("ok")
    for path in ("/x", "/box/x", "/box/src/solution.py", "/usr/lib/x", "/dev/x", os.path.join(os.getcwd(), "..", "x")):
        try:
            open(path, "w")
        except OSError:
            continue
        raise AssertionError(path + " is writable")
"""
    report = grade_in_worker("", tests).report

    assert report.status == "passed", report.output


def test_kernel_attack_surface_is_denied_by_seccomp() -> None:
    column = 0 if seccomp.machine() == "x86_64" else 1
    number = {name: numbers[column] for name, numbers in seccomp.DENIED.items()}
    tests = f"""
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)

def denied(number, *args):
    return libc.syscall(number, *args) == -1 and ctypes.get_errno() == 1

def test_ptrace_io_uring_userfaultfd_bpf_and_unshare_are_denied():
    assert denied({number["ptrace"]}, 0, 0, 0, 0)
    assert denied({number["io_uring_setup"]}, 1, 0)
    assert denied({number["userfaultfd"]}, 0)
    assert denied({number["bpf"]}, 0, 0, 0)
    assert denied({number["unshare"]}, 0x10000000)  # CLONE_NEWUSER

def test_ordinary_processes_and_threads_still_work():
    import subprocess, sys, threading
    done = []
    worker = threading.Thread(target=lambda: done.append(True))
    worker.start()
    worker.join()
    assert done == [True]
    assert subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout == "42\\n"
"""
    report = grade_in_worker("", tests).report

    assert report.status == "passed", report.output


def test_a_worker_killed_mid_grading_takes_its_sandbox_with_it() -> None:
    marker = f"ferry{os.getpid() % 100000}"  # a process name (comm) only this test's sandbox uses
    source = f"""
import ctypes, time
ctypes.CDLL(None).prctl(15, {marker.encode()!r}, 0, 0, 0)  # PR_SET_NAME
time.sleep(3600)
"""
    worker = os.fork()
    if worker == 0:
        try:
            grade(source, "import solution\ndef test_x():\n    pass\n", replace(FAST, wall_s=60), HOST)
        finally:
            os._exit(0)
    wait_until(lambda: processes_named(marker), timeout=10, message="the sandboxed submission to start")

    os.kill(worker, signal.SIGKILL)
    os.waitpid(worker, 0)

    wait_until(lambda: not processes_named(marker), timeout=5, message="the sandbox to die with its worker")


def processes_named(name: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(entry.name)
        except OSError:
            continue
    return found
