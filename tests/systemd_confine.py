"""Run a command confined the way ``systemd/fcd.service`` confines the daemon, without systemd.

    python -m tests.systemd_confine systemd/fcd.service -- python -m fcd serve

These machines do not run systemd as pid 1, so the unit's sandboxing is applied by hand, read
from the unit file itself: ``NoNewPrivileges=``, ``CapabilityBoundingSet=`` (dropped from the
bounding set, so root's exec keeps only those), and the seccomp filters systemd installs for
``RestrictNamespaces=``, ``ProtectHostname=`` and ``SystemCallArchitectures=native`` (the
filter is built for the native architecture only, so other ABIs are refused whatever the unit
says). The rules follow systemd's documented behaviour: unshare/clone with a namespace flag not
listed, setns into one or with no type, clone3 (ENOSYS, so libc falls back to clone), and
sethostname/setdomainname under ProtectHostname all fail. libseccomp and libcap through ctypes.
Everything else in the unit (mount namespace, ProtectSystem=, RestrictAddressFamilies=, ...)
is not reproduced.
"""

from __future__ import annotations

import configparser
import ctypes
import errno
import os
import sys
from pathlib import Path

PR_CAPBSET_DROP = 24
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

    def refuse(self, syscall: str, code: int, *cmps: tuple[int, int, int, int]) -> None:
        number = self.lib.seccomp_syscall_resolve_name(syscall.encode())
        array = (ArgCmp * max(1, len(cmps)))(*[ArgCmp(*c) for c in cmps])
        result = self.lib.seccomp_rule_add_array(
            self.ctx, _errno_action(code), number, len(cmps), array
        )
        if result != 0:
            raise OSError(-result, f"seccomp rule for {syscall}: {os.strerror(-result)}")

    def load(self) -> None:
        result = self.lib.seccomp_load(self.ctx)
        if result != 0:
            raise OSError(-result, f"seccomp_load: {os.strerror(-result)}")


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
