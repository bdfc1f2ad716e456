"""The bucket store's pure parts and its files: keys, listing, ETags, atomic writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcd.buckets.s3errors import S3Error
from fcd.buckets.store import (
    BucketStore,
    ObjectInfo,
    check_bucket_name,
    list_page,
    multipart_etag,
    object_name,
)

keys = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=200
).filter(lambda k: len(k.encode()) <= 1024)


@given(keys)
def test_any_key_maps_inside_the_bucket(key: str) -> None:
    root = Path("/data/buckets/b/objects")
    path = (root / object_name(key)).resolve()
    assert path.parent.parent == root
    assert path.name == hashlib.sha256(key.encode()).hexdigest()


def test_key_limits() -> None:
    with pytest.raises(S3Error) as e:
        object_name("x" * 1025)
    assert e.value.code == "KeyTooLongError"
    with pytest.raises(S3Error):
        object_name("")
    object_name("é" * 512)  # 1,024 bytes: the largest key


@pytest.mark.parametrize(
    "name", ["ab", "UPPER", "a_b", "-ab", "ab-", "a..b", "2016-08-15", "1.2.3.4"]
)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(S3Error) as e:
        check_bucket_name(name)
    assert e.value.code == "InvalidBucketName"


def test_multipart_etag_is_md5_of_md5s() -> None:
    parts = [b"a" * 10, b"b" * 3]
    md5s = [hashlib.md5(p).digest() for p in parts]
    assert multipart_etag(md5s) == hashlib.md5(md5s[0] + md5s[1]).hexdigest() + "-2"


def _all_pages(
    sorted_keys: list[str], prefix: str, delimiter: str, size: int
) -> tuple[list[str], list[str]]:
    found: list[str] = []
    prefixes: list[str] = []
    after, after_prefix = "", False
    for _ in range(10_000):
        page, common, resume, resume_prefix = list_page(
            sorted_keys,
            prefix=prefix,
            delimiter=delimiter,
            after=after,
            after_prefix=after_prefix,
            max_keys=size,
        )
        assert len(page) + len(common) <= size
        found += page
        prefixes += common
        if resume is None:
            return found, prefixes
        after, after_prefix = resume, resume_prefix
    raise AssertionError("listing did not end")


@settings(max_examples=200)
@given(
    st.sets(st.text(alphabet="ab/", min_size=1, max_size=6), max_size=30),
    st.sampled_from(["", "a", "a/", "b/a"]),
    st.sampled_from(["", "/"]),
    st.integers(min_value=1, max_value=5),
)
def test_paged_listing_equals_one_listing(
    key_set: set[str], prefix: str, delimiter: str, size: int
) -> None:
    """Pages of any size give exactly what S3's one-shot listing would: each key or common
    prefix once, in order."""
    sorted_keys = sorted(key_set)
    wanted_keys: list[str] = []
    wanted_prefixes: list[str] = []
    for key in sorted_keys:
        if not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            common = key[: cut + 1]
            if common not in wanted_prefixes:
                wanted_prefixes.append(common)
        else:
            wanted_keys.append(key)
    assert _all_pages(sorted_keys, prefix, delimiter, size) == (wanted_keys, wanted_prefixes)


@settings(max_examples=10, deadline=None)
@given(st.lists(keys, min_size=1, max_size=8, unique=True))
def test_objects_survive_a_reload_with_their_keys(
    tmp_path_factory: object, names: list[str]
) -> None:
    root = tmp_path_factory.mktemp("buckets")  # type: ignore[attr-defined]
    store = BucketStore(root)
    store.create("bkt")
    bucket = store.bucket("bkt")
    for i, key in enumerate(names):
        temp = bucket.temp()
        temp.write_bytes(key.encode() * 2)
        info = ObjectInfo(key, len(key.encode()) * 2, f"{i:032x}", 1.5, "text/plain", {"i": str(i)})
        bucket.finish(temp, info)
        bucket.record(info)
    (bucket.tmp / "stray").write_bytes(b"half a write")
    again = BucketStore(root).bucket("bkt")
    assert again.keys == sorted(names)
    assert not list(again.tmp.iterdir())
    for key in names:
        info, f = again.open(key)
        with f:
            assert f.read(info.size) == key.encode() * 2
    assert all(p.is_relative_to(root / "bkt") for p in root.rglob("*"))
