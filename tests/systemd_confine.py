"""Run a command confined the way ``systemd/fcd.service`` confines the daemon, without systemd.

    python -m tests.systemd_confine systemd/fcd.service -- python -m fcd serve

These machines do not run systemd as pid 1, so the unit's sandboxing is applied by hand, read
from the unit file itself: ``NoNewPrivileges=``, ``CapabilityBoundingSet=`` (dropped from the
bounding set, so root's exec keeps only those), and the seccomp filters systemd installs for
``RestrictNamespaces=``, ``ProtectHostname=``, a deny-list ``SystemCallFilter=~...`` (groups
expanded by ``systemd-analyze syscall-filter``; ``SystemCallErrorNumber=`` or a kill) and
``SystemCallArchitectures=native`` (the filter is built for the native architecture only, so
other ABIs are refused whatever the unit says). The rules follow systemd's documented
behaviour: unshare/clone with a namespace flag not listed, setns into one or with no type,
clone3 (ENOSYS, so libc falls back to clone), and sethostname/setdomainname under
ProtectHostname all fail. libseccomp and libcap through ctypes.
Everything else in the unit (mount namespace, ProtectSystem=, RestrictAddressFamilies=, ...)
is not reproduced.
"""

from __future__ import annotations

import configparser
import ctypes
import errno
import os
import subprocess
import sys
from pathlib import Path

PR_CAPBSET_DROP = 24
SCMP_ACT_KILL_PROCESS = 0x80000000
PR_SET_NO_NEW_PRIVS = 38
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7
NAMESPACE_FLAGS = {
    "cgroup": 0x02000000,
    "ipc": 0x08000000,
    "net": 0x40000000,
    "mnt": 0x00020000,
    "pid": 0x20000000,
    "user": 0x10000000,
    "uts": 0x04000000,
}


class ArgCmp(ctypes.Structure):
    """libseccomp's ``struct scmp_arg_cmp``."""

    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def service_section(unit: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    return dict(parser["Service"])


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class Filter:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_init.argtypes = [ctypes.c_uint32]
        self.lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(ArgCmp),
        ]
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.ctx = self.lib.seccomp_init(SCMP_ACT_ALLOW)
        if not self.ctx:
            raise OSError("seccomp_init failed")

    def refuse(self, syscall: str, code: int | None, *cmps: tuple[int, int, int, int]) -> None:
        """Fail ``syscall`` with errno ``code`` (kill the process when None)."""
        number = self.lib.seccomp_syscall_resolve_name(syscall.encode())
        if number == -1:  # __NR_SCMP_ERROR: a name libseccomp does not know
            return
        action = SCMP_ACT_KILL_PROCESS if code is None else _errno_action(code)
        array = (ArgCmp * max(1, len(cmps)))(*[ArgCmp(*c) for c in cmps])
        result = self.lib.seccomp_rule_add_array(self.ctx, action, number, len(cmps), array)
        if result != 0:
            raise OSError(-result, f"seccomp rule for {syscall}: {os.strerror(-result)}")

    def load(self) -> None:
        result = self.lib.seccomp_load(self.ctx)
        if result != 0:
            raise OSError(-result, f"seccomp_load: {os.strerror(-result)}")


def syscalls_of(names: list[str]) -> set[str]:
    """System call names, with systemd's ``@groups`` expanded by systemd-analyze."""
    found: set[str] = set()
    for name in names:
        if not name.startswith("@"):
            found.add(name)
            continue
        listing = subprocess.run(
            ["systemd-analyze", "syscall-filter", "--no-pager", name],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lines = [line.strip() for line in listing.splitlines()]
        found |= syscalls_of([w for w in lines if w and w != name and not w.startswith("#")])
    return found


def capability_numbers(names: list[str]) -> set[int]:
    libcap = ctypes.CDLL("libcap.so.2", use_errno=True)
    numbers = set()
    for name in names:
        value = ctypes.c_int()
        if libcap.cap_from_name(name.lower().encode(), ctypes.byref(value)) != 0:
            raise ValueError(f"unknown capability {name}")
        numbers.add(value.value)
    return numbers


def confine(service: dict[str, str]) -> None:
    """Apply the unit's settings to this process; an exec afterwards keeps them."""
    libc = ctypes.CDLL(None, use_errno=True)
    if service.get("NoNewPrivileges") == "yes":
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if "CapabilityBoundingSet" in service:
        keep = capability_numbers(service["CapabilityBoundingSet"].split())
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        for cap in range(last + 1):
            if cap not in keep and libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), f"cannot drop capability {cap}")
    rules = Filter()
    if "RestrictNamespaces" in service:
        allowed = set(service["RestrictNamespaces"].split())
        rules.refuse("setns", errno.EPERM, (1, SCMP_CMP_EQ, 0, 0))
        rules.refuse("clone3", errno.ENOSYS)
        for name, flag in NAMESPACE_FLAGS.items():
            if name not in allowed:
                rules.refuse("unshare", errno.EPERM, (0, SCMP_CMP_MASKED_EQ, flag, flag))
                rules.refuse("clone", errno.EPERM, (0, SCMP_CMP_MASKED_EQ, flag, flag))
                rules.refuse("setns", errno.EPERM, (1, SCMP_CMP_MASKED_EQ, flag, flag))
    denied = service.get("SystemCallFilter", "")
    if denied:
        assert denied.startswith("~"), "only deny-lists are reproduced"
        code = service.get("SystemCallErrorNumber")
        for syscall in sorted(syscalls_of(denied[1:].split())):
            rules.refuse(syscall, None if code is None else getattr(errno, code))
    if service.get("ProtectHostname") == "yes":
        rules.refuse("sethostname", errno.EPERM)
        rules.refuse("setdomainname", errno.EPERM)
    rules.load()


def main() -> None:
    unit, separator, *command = sys.argv[1:]
    assert separator == "--", "usage: systemd_confine UNIT -- COMMAND..."
    confine(service_section(Path(unit)))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
