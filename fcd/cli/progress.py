"""A progress bar for code uploads, drawn with rich on standard error when stdout is a terminal.

The client reports ``(sent, total)`` bytes as it writes a large request body
(:attr:`fcd.client.Client.progress`); piped or redirected output gets no bar at all, so
scripts and ``--json`` readers see exactly what they saw before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TransferSpeedColumn,
)

ProgressCallback = Callable[[int, int], None]


@contextmanager
def upload_progress(stdout: TextIO, stderr: TextIO) -> Iterator[ProgressCallback | None]:
    """A callback drawing the bar, or None when stdout is not a terminal."""
    if not stdout.isatty():
        yield None
        return
    bar = Progress(
        "uploading",
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        console=Console(file=stderr),
        transient=True,
    )
    task: list[TaskID] = []

    def report(sent: int, total: int) -> None:
        if not task:
            bar.start()
            task.append(bar.add_task("upload", total=total))
        bar.update(task[0], completed=sent, total=total)

    try:
        yield report
    finally:
        if task:
            bar.stop()
