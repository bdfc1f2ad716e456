"""Pure parts of a function's files: its module search path and the sparse copy of /tmp images."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from fcd.isolation.scratch import _sparse_copy

REPO = Path(__file__).resolve().parents[2]


def _bootstrap() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "_fcd_bootstrap_under_test", REPO / "runtimes" / "python" / "bootstrap.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_search_path_is_code_layers_stdlib_then_preinstalled() -> None:
    host = [
        "/usr/lib/python311.zip",
        "/usr/lib/python3.11",
        "/usr/lib/python3.11/lib-dynload",
        "/usr/local/lib/python3.11/dist-packages",
        "/usr/lib/python3/dist-packages",
        "/some/venv/lib/python3.11/site-packages",
        "",
    ]
    path = _bootstrap().search_path("/code", "/var/fc/runtime", host)
    minor = sys.version_info[1]
    assert path == [
        "/code",
        "/opt/python",
        f"/opt/python/lib/python3.{minor}/site-packages",
        "/usr/lib/python311.zip",
        "/usr/lib/python3.11",
        "/usr/lib/python3.11/lib-dynload",
        "/var/fc/runtime/python/site",
    ]


def test_search_path_keeps_each_entry_once() -> None:
    path = _bootstrap().search_path("/code", "/rt", ["/code", "/opt/python", "/usr/lib/python3.11"])
    assert path == sorted(set(path), key=path.index)


def test_sparse_copy_copies_data_and_keeps_holes(tmp_path: Path) -> None:
    source = tmp_path / "source"
    with open(source, "wb") as f:
        f.truncate(64 << 20)
        f.seek(1 << 20)
        f.write(b"a" * 4096)
        f.seek(40 << 20)
        f.write(b"b" * 8192)
    target = tmp_path / "target"
    _sparse_copy(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert os.stat(target).st_blocks * 512 < 1 << 20  # the holes stayed holes
