"""The sandbox-wide figures decided from the config and the host, without building sandboxes."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcd.config import Config, ConfigError, Instances, Sandbox
from fcd.isolation.cgroup import Totals, totals_for
from fcd.isolation.sandbox import Isolation, uids_needed

GIB = 1 << 30


def test_a_uid_range_smaller_than_the_instances_it_must_serve_is_refused(tmp_path: Path) -> None:
    # The crash this prevents: 1,000 uids for max_total 2,000; the refill died at ~910.
    config = Config(instances=Instances(max_total=2000), sandbox=Sandbox(uid_count=1000))
    with pytest.raises(ConfigError, match=r"sandbox\.uid_count.*max_total") as refused:
        Isolation.from_config(config, tmp_path)
    assert str(uids_needed(2000)) in str(refused.value)


def test_the_default_uid_range_holds_every_instance_and_the_pools() -> None:
    defaults = Config()
    assert defaults.sandbox.uid_count >= uids_needed(defaults.instances.max_total)


def test_no_uid_check_without_sandboxes(tmp_path: Path) -> None:
    config = Config(isolation="none", sandbox=Sandbox(uid_count=1))
    assert Isolation.from_config(config, tmp_path).uids is not None


def test_configured_totals_are_used_as_they_are() -> None:
    assert totals_for(300, 2 * GIB, 32768, 192724, 24 * GIB) == Totals(300, 2 * GIB)


def test_automatic_totals_leave_the_host_a_share() -> None:
    totals = totals_for(0, 0, pid_max=32768, threads_max=192724, memory_host=24 * GIB)
    assert totals.pids_max == 24576  # three quarters of pid_max, the smaller limit
    assert totals.memory_bytes == 21 * GIB  # an eighth kept
    small = totals_for(0, 0, pid_max=4194304, threads_max=1000, memory_host=4 * GIB)
    assert small.pids_max == 750
    assert small.memory_bytes == 3 * GIB  # at least 1 GiB kept
