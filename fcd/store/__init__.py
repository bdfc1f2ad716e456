"""The metadata store: SQLite behind one writer thread (see :mod:`fcd.store.sqlite`)."""

from fcd.store.sqlite import Store

__all__ = ["Store"]
