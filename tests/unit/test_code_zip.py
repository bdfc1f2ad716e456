"""Code packages: CRC-64, content-addressed storage, unpacking, and hostile zips refused."""

from __future__ import annotations

import base64
import io
import os
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcd import errors
from fcd.config import MIB, Limits
from fcd.store.code import CodeStore, crc64, decode_zip_file

LIMITS = Limits()


def make_zip(*members: tuple[str, bytes | str, str]) -> bytes:
    """Members are (name, content, kind) with kind file | exec | dir | symlink."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        warnings.simplefilter("ignore")  # duplicate names are one of the hostile cases
        for name, content, kind in members:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            modes = {
                "file": stat.S_IFREG | 0o644,
                "exec": stat.S_IFREG | 0o755,
                "dir": stat.S_IFDIR | 0o755,
                "symlink": stat.S_IFLNK | 0o777,
            }
            info.external_attr = modes[kind] << 16
            zf.writestr(info, content)
    return buf.getvalue()


@pytest.fixture
def store(tmp_path: Path) -> CodeStore:
    return CodeStore(tmp_path / "data", LIMITS)


def refused(store: CodeStore, data: bytes) -> str:
    with pytest.raises(errors.InvalidArgument) as e:
        store.put(data)
    return e.value.message


def test_crc64_is_the_oss_variant() -> None:
    # ali-oss's crc64-ecma182 and OSS's x-oss-hash-crc64ecma check value.
    assert crc64(b"123456789") == 11051210869376104954
    assert crc64(b"") == 0


def test_put_stores_by_digest_and_unpacks_read_only(store: CodeStore) -> None:
    data = make_zip(
        ("index.py", "def handler(e, c): return 1\n", "file"),
        ("bootstrap", "#!/bin/sh\n", "exec"),
        ("lib/", "", "dir"),
        ("lib/util.py", "X = 1\n", "file"),
        ("node_modules/.bin/tool", "../pkg/cli.js", "symlink"),
        ("node_modules/pkg/cli.js", "//", "file"),
        ("empty/", "", "dir"),
    )
    info = store.put(data)
    assert info.size == len(data)
    assert info.checksum == str(crc64(data))
    assert store.zip_path(info.sha256).read_bytes() == data

    tree = store.unpack(info.sha256)
    assert tree == store.unpacked_dir / info.sha256
    assert (tree / "index.py").read_text() == "def handler(e, c): return 1\n"
    assert stat.S_IMODE((tree / "index.py").stat().st_mode) == 0o444
    assert stat.S_IMODE((tree / "bootstrap").stat().st_mode) == 0o555
    assert stat.S_IMODE((tree / "lib").stat().st_mode) == 0o555
    assert (tree / "empty").is_dir()
    link = tree / "node_modules/.bin/tool"
    assert link.is_symlink()
    assert os.readlink(link) == "../pkg/cli.js"
    assert link.read_text() == "//"
    assert not [p for p in store.unpacked_dir.iterdir() if p.name.startswith(".tmp")]

    assert store.put(data) == info  # same content, same package


def test_unpack_rebuilds_a_missing_tree(store: CodeStore, tmp_path: Path) -> None:
    info = store.put(make_zip(("a.py", "A = 1\n", "file")))
    again = CodeStore(store.code_dir.parent, LIMITS)
    tree = again.unpacked_dir / info.sha256
    os.chmod(tree, 0o700)
    (tree / "a.py").unlink()
    tree.rmdir()
    assert (again.unpack(info.sha256) / "a.py").read_text() == "A = 1\n"
    with pytest.raises(FileNotFoundError):
        again.unpack("0" * 64)


def test_python_sdk_empty_dir_root_entry_is_accepted(store: CodeStore) -> None:
    # fc2.util.zip_dir writes "/" for an empty code directory: the root itself, not an escape.
    info = store.put(make_zip(("/", "", "dir"), ("main.py", "", "file")))
    assert (store.unpack(info.sha256) / "main.py").exists()


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.py", ".."),
        ("a/../../evil.py", ".."),
        ("..\\evil.py", ".."),
        ("/etc/cron.d/evil", "absolute"),
        ("C:\\Windows\\evil", "absolute"),
    ],
)
def test_zip_slip_names_are_refused(store: CodeStore, name: str, why: str) -> None:
    assert why in refused(store, make_zip((name, "x", "file")))


@pytest.mark.parametrize(
    ("members", "why"),
    [
        ([("dir", "real", "symlink"), ("real/", "", "dir"), ("dir/f.py", "", "file")], "below"),
        ([("f.py", "", "file"), ("f.py/g.py", "", "file")], "below"),
        ([("f.py", "1", "file"), ("f.py", "2", "file")], "twice"),
        ([("link", "", "symlink")], "empty"),
    ],
)
def test_hostile_trees_are_refused(
    store: CodeStore, members: list[tuple[str, str, str]], why: str
) -> None:
    assert why in refused(store, make_zip(*members))


@pytest.mark.parametrize(
    "members",
    [
        [("bin/node", "/usr/bin/node", "symlink")],  # build output linking the system's node
        [("link", "/etc/passwd", "symlink")],
        [("a/link", "../../etc", "symlink")],
        [("a/b", "..", "symlink"), ("up", "a/b/..", "symlink")],
        [("x", "y", "symlink"), ("y", "x", "symlink")],
        [("d", ".", "symlink"), ("e", "d/..", "symlink")],
    ],
)
def test_symlinks_are_kept_as_written_whatever_they_point_at(
    store: CodeStore, members: list[tuple[str, str, str]]
) -> None:
    # FC unpacks links as they are; they resolve inside the sandbox's root at run time.
    tree = store.unpack(store.put(make_zip(*members)).sha256)
    for name, target, _ in members:
        assert os.readlink(tree / name) == target


def test_declared_size_bomb_is_refused(tmp_path: Path) -> None:
    small = CodeStore(tmp_path / "data", Limits(code_unzipped_size=1000))
    data = make_zip(("a", b"x" * 600, "file"), ("b", b"y" * 600, "file"))
    assert "unzipped size" in refused(small, data)


def test_ratio_bomb_is_refused(store: CodeStore) -> None:
    data = make_zip(("zeros.bin", b"\0" * (2 * MIB), "file"))
    assert "ratio" in refused(store, data)
    # Small members are not judged by their ratio.
    assert store.put(make_zip(("zeros.bin", b"\0" * 4096, "file"))).size > 0


def test_member_lying_about_its_size_is_refused(store: CodeStore) -> None:
    data = bytearray(make_zip(("a.txt", b"hello world, hello world", "file")))
    # Shrink the declared size in both the local header (offset 22) and the central directory
    # (offset 24 of the record): the member really inflates to more than it claims.
    data[22:26] = (5).to_bytes(4, "little")
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (5).to_bytes(4, "little")
    assert "acceptable zip" in refused(store, bytes(data))
    assert not list(store.code_dir.iterdir())


def test_not_a_zip_truncated_and_encrypted_are_refused(store: CodeStore) -> None:
    good = make_zip(("a.py", "A = 1\n" * 100, "file"))
    refused(store, b"this is not a zip")
    refused(store, good[: len(good) // 2])
    encrypted = bytearray(good)
    central = encrypted.rfind(b"PK\x01\x02")
    encrypted[central + 8] |= 1
    encrypted[6] |= 1
    assert "encrypted" in refused(store, bytes(encrypted))


def test_code_over_the_size_limit_is_refused_not_truncated(tmp_path: Path) -> None:
    limits = Limits(code_size=1000)
    data = make_zip(("a.bin", os.urandom(2000), "file"))
    assert "exceeds" in refused(CodeStore(tmp_path / "d", limits), data)
    with pytest.raises(errors.InvalidArgument):
        decode_zip_file(base64.b64encode(data).decode(), limits)


def test_decode_zip_file_accepts_wrapped_base64_and_refuses_garbage() -> None:
    data = make_zip(("a.py", "", "file"))
    wrapped = base64.encodebytes(data).decode()
    assert decode_zip_file(wrapped, LIMITS) == data
    with pytest.raises(errors.InvalidArgument):
        decode_zip_file("not base64!!", LIMITS)


# Property tests: random and hostile zips never crash the store and never put a file outside it.

# Plain parts are repeated so that about half the zips are acceptable and get unpacked.
_part = st.sampled_from(
    ["a", "b", "x.py", "lib"] * 6 + ["..", ".", "", "\\..", "..\\x", "/", "c:", "a\\b"]
)
_names = st.lists(_part, min_size=1, max_size=4).map("/".join)
_member = st.tuples(
    _names,
    st.one_of(_names, st.binary(max_size=64)),
    st.sampled_from(["file", "exec", "dir", "symlink"]),
)


def _assert_contained(root: Path, tree: Path) -> None:
    """Everything under ``root`` is the store's: no file or directory was written through a link.

    Links themselves may point anywhere (they are resolved only inside a sandbox), but each lies
    in ``tree`` and none of the real entries' parents is one.
    """
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):  # os.walk does not follow links
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if path.is_symlink():
                assert path.is_relative_to(tree)
            else:
                assert path.parent.resolve().is_relative_to(real_root)


def _check_store_survives(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        root = base / "data"
        store = CodeStore(root, Limits(code_unzipped_size=256 * 1024))
        try:
            info = store.put(data)
        except errors.InvalidArgument:
            assert sorted(p.name for p in base.iterdir()) == ["data"]
            assert not list(store.unpacked_dir.iterdir())
            return
        tree = store.unpack(info.sha256)
        assert sorted(p.name for p in base.iterdir()) == ["data"]
        _assert_contained(root, tree)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_member, max_size=6))
def test_random_trees_never_escape(members: list[tuple[str, str | bytes, str]]) -> None:
    _check_store_survives(make_zip(*members))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=8))
def test_corrupted_zips_never_crash(flips: list[tuple[int, int]]) -> None:
    data = bytearray(
        make_zip(
            ("index.py", "def handler(e, c):\n    return 1\n" * 3, "file"),
            ("lib/", "", "dir"),
            ("lib/link", "../index.py", "symlink"),
        )
    )
    for offset, value in flips:
        data[offset % len(data)] = value
    _check_store_survives(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    _check_store_survives(data)
