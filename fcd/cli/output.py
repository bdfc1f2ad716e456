"""How fcctl prints: raw JSON with ``--json``, otherwise a plain aligned table.

A single resource prints as two columns (field, value); a listing as one row per item with the
columns its subcommand chose. Nested values are shown as compact JSON so that every row stays
one line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class Listing:
    """Items of one kind and the fields shown as table columns."""

    items: list[dict[str, Any]]
    columns: Sequence[str]


@dataclass(frozen=True)
class Message:
    """A line for people (``deleted service 's'``); ``--json`` prints ``data`` instead."""

    text: str
    data: Any = None


def emit(result: Any, *, as_json: bool, out: TextIO) -> None:
    """Print ``result`` (a mapping, a :class:`Listing`, a :class:`Message`, :class:`Raw` bytes
    or None)."""
    if result is None:
        return
    if as_json:
        value = result
        if isinstance(result, Listing):
            value = result.items
        elif isinstance(result, Message | Raw):
            value = result.data
        if value is not None:
            out.write(json.dumps(value, indent=2, sort_keys=False) + "\n")
        return
    if isinstance(result, Raw):
        out.flush()
        out.buffer.write(result.body)
        out.buffer.flush()
    elif isinstance(result, Message):
        out.write(result.text + "\n")
    elif isinstance(result, Listing):
        rows = [[cell(item.get(column)) for column in result.columns] for item in result.items]
        out.write(table(list(result.columns), rows))
    elif isinstance(result, Mapping):
        rows = [[key, cell(value)] for key, value in result.items()]
        etag = getattr(result, "etag", None)
        if etag:
            rows.append(["ETag", etag])
        out.write(table(["FIELD", "VALUE"], rows))
    else:
        out.write(f"{result}\n")


def cell(value: Any) -> str:
    """One table cell: strings as is, absent as empty, anything else as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; no trailing spaces."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Raw:
    """Bytes for stdout as they are (a function's answer); ``--json`` prints ``data`` instead.

    ``failure`` names what went wrong when the bytes are an error report: fcctl then exits 1.
    """

    body: bytes
    data: Any = None
    failure: str = ""
