"""Running a command under bubblewrap: namespaces, mounts, credentials, deadline, cleanup.

The sandbox (adr/0011) is a fresh user, PID, network, mount, IPC, UTS and cgroup namespace
set up by bwrap, with:

- a root filesystem that is an empty read-only tmpfs holding only the interpreter, its
  standard library and shared libraries (read-only binds of exactly those directories), a
  minimal /dev, read-only /box (the harness and the files to grade) and /tmp, a fresh
  size-limited tmpfs: the only writable place. No /proc, /sys, /etc, /home, no project
  checkout and no virtualenv;
- a cleared environment, no network but a loopback of its own, no capabilities, no
  further user namespaces, a seccomp deny-list (seccomp.py);
- a host uid that is unprivileged: when the worker runs as root, the sandbox runs as the
  dedicated SANDBOX_USER (created on first use), because RLIMIT_NPROC is not enforced for
  root's uid and a sandbox sharing root's uid could signal root's processes.

The command runs as PID 1 of its namespace (--as-pid-1); when it exits, or when bwrap or
the worker dies (--die-with-parent), the kernel kills everything left in the namespace.
"""

from __future__ import annotations

import json
import os
import pwd
import selectors
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from core.learning.sandbox import seccomp

SANDBOX_PATH = "/usr/bin:/bin"
BOX = "/box"
TMP = "/tmp"  # noqa: S108 - the sandbox's own fresh tmpfs, never the host's /tmp
SETUP_GRACE_S = 3.0  # namespace setup, interpreter start-up and the harness's last words
TEARDOWN_WAIT_S = 5.0
USERADD = "/usr/sbin/useradd"


class SandboxSetupError(RuntimeError):
    """The sandbox cannot be built on this machine (missing tool, user, interpreter)."""


@dataclass(frozen=True)
class Credentials:
    """The unprivileged host user a root worker switches to before starting bwrap."""

    uid: int
    gid: int
    name: str


@dataclass(frozen=True)
class Interpreter:
    """The system interpreter as the sandbox sees it: its executable and what it must read."""

    executable: str
    version: str
    readable: tuple[str, ...]  # host directories and files bound read-only at the same path


@dataclass(frozen=True)
class Environment:
    """Everything about this machine a sandbox run needs, resolved once by the probe."""

    bwrap: str
    interpreter: Interpreter
    credentials: Credentials | None
    seccomp_program: bytes
    # bwrap --disable-userns needs a writable /proc/sys, which containers do not give; the
    # seccomp filter denies new namespaces either way (seccomp.py).
    disable_userns: bool = True


@dataclass(frozen=True)
class SandboxRun:
    """What came out of one bwrap run. stdout/stderr are capped; a capped stream is cut."""

    stdout: bytes
    stderr: bytes
    returncode: int | None
    killed_at_deadline: bool


# --- resolving the environment ------------------------------------------------------------


def resolve_environment(bwrap: str, python: str, user: str, forbidden: list[Path]) -> Environment:
    """Check the tools and build the Environment; raises SandboxSetupError naming what is missing."""
    if not os.access(bwrap, os.X_OK):
        raise SandboxSetupError(f"bubblewrap is not installed ({bwrap} is not executable)")
    interpreter = describe_interpreter(python, forbidden)
    try:
        program = seccomp.filter_program()
    except seccomp.UnsupportedArchitecture as exc:
        raise SandboxSetupError(str(exc)) from exc
    return Environment(bwrap, interpreter, sandbox_credentials(user), program)


def describe_interpreter(python: str, forbidden: list[Path]) -> Interpreter:
    """Ask the interpreter where its standard library and shared libraries live.

    Refuses an interpreter inside the project or its virtualenv (`forbidden`): binding it
    would put the application's code in the sandbox.
    """
    executable = Path(python).resolve()
    if not os.access(executable, os.X_OK):
        raise SandboxSetupError(f"the sandbox interpreter {python} does not exist")
    for place in forbidden:
        # A virtualenv's python is a symlink out of it: check the name as given, too.
        if executable.is_relative_to(place) or Path(os.path.abspath(python)).is_relative_to(place):
            raise SandboxSetupError(f"the sandbox interpreter {python} lies inside {place}")
    code = (
        "import json, sys, sysconfig; v = sysconfig.get_config_var; print(json.dumps({"
        "'version': sys.version.split()[0], 'stdlib': sysconfig.get_path('stdlib'), "
        "'platstdlib': sysconfig.get_path('platstdlib'), 'libdir': v('LIBDIR'), "
        "'ldlibrary': v('INSTSONAME') if v('Py_ENABLE_SHARED') else None, 'multiarch': v('MULTIARCH')}))"
    )
    try:
        done = subprocess.run(  # noqa: S603 - a fixed interpreter with a fixed program
            [str(executable), "-I", "-S", "-c", code], capture_output=True, timeout=30, check=True, env={}
        )
        facts = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise SandboxSetupError(f"the sandbox interpreter {executable} does not run: {exc}") from exc
    return Interpreter(str(executable), facts["version"], interpreter_paths(executable, facts))


def interpreter_paths(executable: Path, facts: dict[str, str | None]) -> tuple[str, ...]:
    """The host paths the interpreter reads: itself, its stdlib, libpython, system libraries."""
    candidates = [str(executable), facts["stdlib"], facts["platstdlib"]]
    if facts.get("ldlibrary") and facts.get("libdir"):
        candidates.append(os.path.join(str(facts["libdir"]), str(facts["ldlibrary"])))
    multiarch = facts.get("multiarch")
    for lib in ("/usr/lib64", f"/usr/lib/{multiarch}" if multiarch else None):
        candidates.append(lib)
    paths: list[str] = []
    for candidate in candidates:
        # A symlinked directory (/usr/lib64 on some systems) is fine: bwrap binds its target.
        if candidate and os.path.exists(candidate):
            covered = any(candidate == p or candidate.startswith(p.rstrip("/") + "/") for p in paths)
            if not covered:
                paths.append(candidate)
    return tuple(paths)


def sandbox_credentials(user: str) -> Credentials | None:
    """None when the worker is already unprivileged; otherwise the dedicated sandbox user.

    A root worker creates the user on first use (a system user without home or shell).
    """
    if os.geteuid() != 0:
        return None
    entry = lookup_user(user) or create_user(user)
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise SandboxSetupError(f"the sandbox user {user} must not have uid or gid 0")
    return Credentials(entry.pw_uid, entry.pw_gid, user)


def lookup_user(user: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(user)
    except KeyError:
        return None


def create_user(user: str) -> pwd.struct_passwd:
    command = [USERADD, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
               "--shell", "/usr/sbin/nologin", user]
    try:
        subprocess.run(command, capture_output=True, timeout=30, check=False)  # noqa: S603
    except OSError as exc:
        raise SandboxSetupError(f"cannot create the sandbox user {user}: {exc}") from exc
    # Another worker may have created it concurrently; either way it must exist now.
    entry = lookup_user(user)
    if entry is None:
        raise SandboxSetupError(f"the sandbox user {user} does not exist and could not be created")
    return entry


# --- the bwrap command line ------------------------------------------------------------------


def bwrap_command(env: Environment, files: dict[str, int], seccomp_fd: int, info_fd: int,
                  tmp_bytes: int, argv: list[str]) -> list[str]:
    """The bwrap invocation; `files` maps sandbox paths under /box to readable fds."""
    command = [env.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--as-pid-1",
               "--hostname", "sandbox"]
    if env.disable_userns:
        command.append("--disable-userns")
    command += root_filesystem(env.interpreter)
    command += ["--dev", "/dev", "--size", str(tmp_bytes), "--tmpfs", TMP, "--dir", BOX]
    for directory in sorted({os.path.dirname(p) for p in files} - {BOX}):
        command += ["--dir", directory]
    for path, fd in files.items():
        command += ["--ro-bind-data", str(fd), path]
    # Last, after everything is in place: nothing outside /tmp stays writable.
    command += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", TMP, "--clearenv",
                "--setenv", "PATH", SANDBOX_PATH, "--setenv", "HOME", TMP, "--setenv", "TMPDIR", TMP,
                "--setenv", "LANG", "C.UTF-8", "--seccomp", str(seccomp_fd), "--info-fd", str(info_fd), "--"]
    return command + argv


def root_filesystem(interpreter: Interpreter) -> list[str]:
    """Read-only binds of what the interpreter needs, and /lib, /lib64 (where the dynamic
    loader is looked up): the merged-/usr symlinks, or the directories themselves."""
    args: list[str] = []
    for path in interpreter.readable:
        args += ["--ro-bind", path, path]
    for top in ("/lib", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


# --- running ----------------------------------------------------------------------------------


def run(env: Environment, files: dict[str, bytes], argv: list[str], *, tmp_bytes: int, wall_s: float,
        stdout_cap: int, stderr_cap: int = 65536) -> SandboxRun:
    """Run `argv` in a fresh sandbox holding `files` (read-only, under /box).

    Returns when the sandbox is gone: every process in it has exited (it is killed at
    wall_s + SETUP_GRACE_S at the latest), even if the caller is interrupted meanwhile
    (Celery's soft time limit, for instance). Raises OSError only if bwrap cannot be started.
    """
    with ExitStack() as stack:
        fds = {path: stack.enter_context(data_file(content)).fileno() for path, content in files.items()}
        seccomp_fd = stack.enter_context(data_file(env.seccomp_program)).fileno()
        info_r, info_w = os.pipe()
        stack.callback(close_quietly, info_r)
        try:
            process = spawn(env, bwrap_command(env, fds, seccomp_fd, info_w, tmp_bytes, argv),
                            [*fds.values(), seccomp_fd, info_w])
        finally:
            os.close(info_w)
        sandbox = Sandbox(process, info_r)
        try:
            return sandbox.collect(time.monotonic() + wall_s + SETUP_GRACE_S, stdout_cap, stderr_cap)
        finally:
            sandbox.destroy()


@contextmanager
def data_file(content: bytes) -> Iterator[IO[bytes]]:
    """An anonymous file bwrap copies into the sandbox (--ro-bind-data); nothing lands on disk by name."""
    with tempfile.TemporaryFile() as f:
        f.write(content)
        f.flush()
        f.seek(0)
        yield f


def spawn(env: Environment, command: list[str], pass_fds: list[int]) -> subprocess.Popen[bytes]:
    """Start bwrap in its own process group, with nothing of the worker's environment."""
    credentials = env.credentials
    return subprocess.Popen(  # noqa: S603 - fixed program, arguments built above
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=pass_fds,
        close_fds=True,
        cwd="/",
        env={"PATH": SANDBOX_PATH},
        process_group=0,
        user=credentials.uid if credentials else None,
        group=credentials.gid if credentials else None,
        extra_groups=[] if credentials else None,
    )


def close_quietly(fd: int) -> None:
    with suppress(OSError):
        os.close(fd)


@dataclass
class Capped:
    """The first `limit` bytes of a stream; the rest is read and dropped, so the writer never blocks."""

    limit: int
    data: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes) -> None:
        self.data += chunk[: max(self.limit - len(self.data), 0)]


class Sandbox:
    """One running bwrap and the PID 1 of its namespace (from --info-fd)."""

    def __init__(self, process: subprocess.Popen[bytes], info_fd: int) -> None:
        self.process = process
        self.info_fd = info_fd
        self.info = bytearray()
        self.init_pidfd: int | None = None

    def collect(self, deadline: float, stdout_cap: int, stderr_cap: int) -> SandboxRun:
        """Read stdout/stderr (capped) until both close, or until the deadline passes."""
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        streams = {"stdout": Capped(stdout_cap), "stderr": Capped(stderr_cap)}
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ, "stdout")
            selector.register(self.process.stderr, selectors.EVENT_READ, "stderr")
            selector.register(self.info_fd, selectors.EVENT_READ, "info")
            finished = self.pump(selector, streams, deadline)
        if finished:
            self.wait(TEARDOWN_WAIT_S)
        return SandboxRun(bytes(streams["stdout"].data), bytes(streams["stderr"].data), self.process.returncode,
                          killed_at_deadline=not finished)

    def pump(self, selector: selectors.BaseSelector, streams: dict[str, Capped], deadline: float) -> bool:
        """Read until stdout and stderr are closed; False if the deadline came first."""
        while any(key.data != "info" for key in selector.get_map().values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.data == "info":
                    self.info += chunk[: 65536 - len(self.info)]
                    self.watch_init()
                else:
                    streams[key.data].feed(chunk)
        return True

    def watch_init(self) -> None:
        """Hold a pidfd on the namespace's PID 1, so destroy() can kill it and wait for it.

        The pid came from bwrap; it is ours only while bwrap (our child) is its parent,
        which is checked after the pidfd is open, so a recycled pid is never signalled.
        """
        if self.init_pidfd is not None:
            return
        try:
            pid = int(json.loads(bytes(self.info))["child-pid"])
            pidfd = os.pidfd_open(pid)
        except (ValueError, KeyError, TypeError, OSError):
            return  # not all of it has arrived yet (or bwrap failed before starting it)
        if parent_of(pid) == self.process.pid:
            self.init_pidfd = pidfd
        else:
            os.close(pidfd)

    def wait(self, timeout: float) -> None:
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)

    def destroy(self) -> None:
        """Kill whatever is left and return only when the namespace is empty.

        Killing PID 1 makes the kernel kill every process in the namespace and lets bwrap
        reap it; killing bwrap's group covers a sandbox that never got that far.
        """
        if self.init_pidfd is not None:
            with suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.init_pidfd, signal.SIGKILL)
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.wait(TEARDOWN_WAIT_S)
        if self.init_pidfd is not None:
            # PID 1 exits only after every other process of its namespace is gone.
            selectors_wait(self.init_pidfd, TEARDOWN_WAIT_S)
            os.close(self.init_pidfd)
            self.init_pidfd = None
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def parent_of(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def selectors_wait(fd: int, timeout: float) -> bool:
    """True once `fd` is readable (for a pidfd: the process has exited) within `timeout`."""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        return bool(selector.select(timeout))
