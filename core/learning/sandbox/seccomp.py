"""A seccomp filter for the sandbox: deny the kernel interfaces exercises never need.

Defence in depth, not the boundary (the namespaces and rlimits are): these system calls
are where kernel exploits usually start (io_uring, bpf, userfaultfd, keyctl,
perf_event_open), or they reach other processes or the machine (ptrace,
process_vm_*, mount, reboot, modules, clocks). Denied calls fail with EPERM, so Python
reports an ordinary PermissionError. Calls from another ABI (i386 via int 0x80, x32)
kill the process: Python never makes them, an exploit might.

New namespaces are denied too: unshare and setns always, clone when its flags ask for a
namespace, and clone3 (whose flags a filter cannot read) answers ENOSYS, so the C library
falls back to clone, as it does under Docker's default profile. A nested user namespace
would hand the submission every capability inside it, and with them kernel code
(netfilter, mounts) that unprivileged processes never reach. bwrap's --disable-userns
does the same where it works, but it needs a writable /proc/sys, which containers lack.

The output is the raw `struct sock_filter` array that `bwrap --seccomp FD` loads
(what libseccomp's seccomp_export_bpf writes). Numbers come from the kernel's
asm/unistd_64.h and asm-generic/unistd.h (aarch64).
"""

from __future__ import annotations

import platform
import struct

# Syscall name -> (x86_64 number, aarch64 number); None where the call does not exist.
DENIED: dict[str, tuple[int | None, int | None]] = {
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438),
    "process_madvise": (440, 440),
    "kcmp": (312, 272),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "fanotify_init": (300, 262),
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "mount_setattr": (442, 442),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "reboot": (169, 142),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "acct": (163, 89),
    "quotactl": (179, 60),
    "quotactl_fd": (443, 443),
    "lookup_dcookie": (212, 18),
    "syslog": (103, 116),
    "vhangup": (153, 58),
    "settimeofday": (164, 170),
    "clock_settime": (227, 112),
    "adjtimex": (159, 171),
    "clock_adjtime": (305, 266),
    "nfsservctl": (180, 42),
    "iopl": (172, None),
    "ioperm": (173, None),
    "modify_ldt": (154, None),
    "uselib": (134, None),
    "_sysctl": (156, None),
}

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
CLONE = {"x86_64": 56, "aarch64": 220}
CLONE3 = 435
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME (linux/sched.h)
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM, ENOSYS = 1, 38
# struct seccomp_data: nr, arch, then args[0] (its low 32 bits first: both ABIs are little-endian)
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16


class UnsupportedArchitecture(RuntimeError):
    pass


def machine() -> str:
    return platform.machine()


def denied_numbers(arch: str) -> list[int]:
    column = 0 if arch == "x86_64" else 1
    return sorted({n for numbers in DENIED.values() if (n := numbers[column]) is not None})


def instruction(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_program(arch: str | None = None) -> bytes:
    """The BPF program for `arch` (default: this machine's); raises UnsupportedArchitecture.

    Layout: check the ABI, load the syscall number, settle clone and clone3, then one JEQ
    per denied call jumping to the final ERRNO, otherwise ALLOW.
    """
    arch = arch or machine()
    if arch not in AUDIT_ARCH:
        raise UnsupportedArchitecture(f"no seccomp syscall table for {arch}")
    program = [
        instruction(LD_W_ABS, 0, 0, OFFSET_ARCH),
        instruction(JEQ_K, 1, 0, AUDIT_ARCH[arch]),
        instruction(RET_K, 0, 0, RET_KILL_PROCESS),
        instruction(LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if arch == "x86_64":
        program += [instruction(JGE_K, 0, 1, X32_SYSCALL_BIT), instruction(RET_K, 0, 0, RET_KILL_PROCESS)]
    program += clone_rules(arch) + deny_rules(denied_numbers(arch))
    return b"".join(program)


def clone_rules(arch: str) -> list[bytes]:
    """clone with a namespace flag: EPERM; other clones: allowed; clone3: ENOSYS."""
    return [
        instruction(JEQ_K, 0, 4, CLONE[arch]),  # not clone: skip to the clone3 check
        instruction(LD_W_ABS, 0, 0, OFFSET_ARG0),
        instruction(JSET_K, 0, 1, CLONE_NAMESPACES),
        instruction(RET_K, 0, 0, RET_ERRNO | EPERM),
        instruction(RET_K, 0, 0, RET_ALLOW),
        instruction(JEQ_K, 0, 1, CLONE3),
        instruction(RET_K, 0, 0, RET_ERRNO | ENOSYS),
    ]


def deny_rules(denied: list[int]) -> list[bytes]:
    """One JEQ per denied call, jumping over the rest and the ALLOW to the final EPERM."""
    rules = [instruction(JEQ_K, len(denied) - index, 0, number) for index, number in enumerate(denied)]
    return [*rules, instruction(RET_K, 0, 0, RET_ALLOW), instruction(RET_K, 0, 0, RET_ERRNO | EPERM)]
