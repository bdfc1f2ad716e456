"""systemd/fcd.service: what the daemon needs from its unit, and no hardening that breaks it."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fcd.config import DEFAULTS
from fcd.isolation.sandbox import NAMESPACES

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "fcd.service"


def _service() -> dict[str, str]:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return dict(parser["Service"])


def test_runs_the_daemon_with_the_installed_config() -> None:
    service = _service()
    assert service["Type"] in ("exec", "notify")
    assert service["ExecStart"].endswith("fcd serve --config /etc/fcd/fcd.toml")


def test_state_directory_is_the_default_data_dir() -> None:
    assert f"/var/lib/{_service()['StateDirectory']}" == DEFAULTS.data_dir


def test_cgroup_subtree_is_delegated() -> None:
    service = _service()
    assert service["Delegate"] == "yes"
    assert service["TasksMax"] == "infinity"


@pytest.mark.parametrize(
    "option",
    [
        # Each of these forbids unshare/setns/mount or makes /sys/fs/cgroup or /proc/sys
        # read-only: sandboxes could not be built.
        "ProtectControlGroups",
        "ProtectKernelTunables",
        "PrivateDevices",
        "PrivateUsers",
        "DynamicUser",
        "User",
        # Its seccomp filter refuses sethostname() in every sandbox's own uts namespace too.
        "ProtectHostname",
    ],
)
def test_no_hardening_that_breaks_sandboxes(option: str) -> None:
    assert option not in _service()


def test_namespaces_are_only_those_sandboxes_are_made_of() -> None:
    """No user or cgroup namespaces, for the daemon or any function (the filter is inherited)."""
    assert set(_service()["RestrictNamespaces"].split()) == set(NAMESPACES)


def test_system_call_filter_is_a_deny_list_that_spares_sandboxes() -> None:
    """An allow list (or a denied @mount, @privileged, @system-service...) would forbid the
    mount, pivot_root, setns and setresuid that build a sandbox."""
    service = _service()
    denied = service["SystemCallFilter"]
    assert denied.startswith("~")
    assert set(denied[1:].split()) <= {
        "@clock",
        "@cpu-emulation",
        "@debug",
        "@module",
        "@obsolete",
        "@raw-io",
        "@reboot",
        "@swap",
    }
    assert service["SystemCallErrorNumber"] == "EPERM"  # a function's ptrace fails, not dies


def test_native_system_calls_only() -> None:
    assert _service()["SystemCallArchitectures"] == "native"


def test_capabilities_are_those_the_daemon_uses() -> None:
    """tests/sandbox/test_systemd_confinement.py runs the daemon with exactly this set."""
    assert set(_service()["CapabilityBoundingSet"].split()) == {
        "CAP_SYS_ADMIN",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_NET_ADMIN",
        "CAP_KILL",
        "CAP_SYS_NICE",
        "CAP_NET_BIND_SERVICE",
        "CAP_DAC_OVERRIDE",
    }


def test_a_config_error_is_not_restarted(tmp_path: Path) -> None:
    """fcd exits 2 on a start failure a restart cannot cure; systemd must not loop on it."""
    config = tmp_path / "fcd.toml"
    config.write_text("listne = '127.0.0.1:9000'\n")
    result = subprocess.run(
        [sys.executable, "-m", "fcd", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "listne" in result.stderr
    assert _service()["RestartPreventExitStatus"].split() == [str(result.returncode)]


def test_netlink_stays_allowed() -> None:
    """pyroute2 configures veths and loopback over netlink."""
    assert "AF_NETLINK" in _service()["RestrictAddressFamilies"].split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """``systemd-analyze verify`` with ExecStart pointed at a binary that exists here."""
    unit = tmp_path / "fcd.service"
    unit.write_text(
        UNIT.read_text().replace("/opt/fcd/.venv/bin/fcd", shutil.which("true") or "/bin/true")
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [
        line for line in (result.stdout + result.stderr).splitlines() if "fcd.service" in line
    ]
    assert result.returncode == 0, problems
    assert not problems


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_scores_the_confinement(tmp_path: Path) -> None:
    """``systemd-analyze security --offline`` counts what docs/security.md says the unit gives."""
    unit = tmp_path / "fcd.service"
    unit.write_text(UNIT.read_text())
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in result.stderr:
        pytest.skip("this systemd-analyze has no --offline")
    passed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("\u2713")}
    for item in (
        "RestrictNamespaces=~user",
        "RestrictNamespaces=~cgroup",
        "SystemCallArchitectures=",
        "NoNewPrivileges=",
        "CapabilityBoundingSet=~CAP_SYS_PTRACE",
        "CapabilityBoundingSet=~CAP_SYS_MODULE",
        "CapabilityBoundingSet=~CAP_SYS_RAWIO",
        "CapabilityBoundingSet=~CAP_(CHOWN|FSETID|SETFCAP)",
        "CapabilityBoundingSet=~CAP_BPF",
        "SystemCallFilter=~@debug",
        "SystemCallFilter=~@obsolete",
    ):
        assert item in passed, result.stdout
