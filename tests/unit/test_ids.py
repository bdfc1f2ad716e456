"""Request ids: UUID4 strings, unique, and not shared with a forked child."""

from __future__ import annotations

import os
import uuid

from fcd import ids


def test_request_ids_are_distinct_version_4_uuids() -> None:
    made = [ids.request_id() for _ in range(ids.BATCH * 3 + 7)]
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    ids.request_id()  # a batch is buffered
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, ids.request_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert child != ids.request_id()
