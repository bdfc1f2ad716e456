"""fcd.store.datadir: the data dir's modes fixed at start, the unpacked code left readable."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from fcd.store.datadir import DataDirError, prepare


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_an_older_layout_is_made_private_but_code_trees_stay_readable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "code").mkdir(parents=True)
    (data / "buckets" / "b").mkdir(parents=True)
    (data / "unpacked" / "abc").mkdir(parents=True)
    for name in (
        "fcd.sqlite3",
        "fcd.sqlite3-wal",
        "admin-credentials",
        "code/x.zip",
        "buckets/b/o",
    ):
        (data / name).write_text("secret")
        (data / name).chmod(0o644)
    (data / "unpacked" / "abc" / "index.py").write_text("code")
    (data / "unpacked" / "abc" / "index.py").chmod(0o444)
    (data / "unpacked" / "abc").chmod(0o555)
    data.chmod(0o755)
    (data / "code").chmod(0o755)
    prepare(data)
    assert mode(data) == 0o700
    assert mode(data / "code") == 0o700
    assert mode(data / "buckets" / "b") == 0o700
    for name in (
        "fcd.sqlite3",
        "fcd.sqlite3-wal",
        "admin-credentials",
        "code/x.zip",
        "buckets/b/o",
    ):
        assert mode(data / name) == 0o600, name
    assert mode(data / "unpacked" / "abc") == 0o555
    assert mode(data / "unpacked" / "abc" / "index.py") == 0o444


def test_a_missing_data_dir_is_created_private_and_a_symlink_is_followed(tmp_path: Path) -> None:
    prepare(tmp_path / "new" / "data")
    assert mode(tmp_path / "new" / "data") == 0o700
    (tmp_path / "link").symlink_to(tmp_path / "new" / "data")
    prepare(tmp_path / "link")


def test_a_file_is_not_a_data_dir(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(DataDirError, match="not a directory"):
        prepare(tmp_path / "f")


@pytest.mark.root  # chown
def test_another_owner_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 65534, 65534)
    with pytest.raises(DataDirError, match="owned by uid 65534"):
        prepare(data)
