"""The errors of the image library; each names the database or the folder at fault."""

from __future__ import annotations

from rtplan.errors import RtplanError

__all__ = ["LibraryError", "LibraryLockedError", "SchemaVersionError"]


class LibraryError(RtplanError):
    """An image library cannot be opened, read or written as asked."""


class LibraryLockedError(LibraryError):
    """The library database is held by another process (an index run in progress)."""


class SchemaVersionError(LibraryError):
    """The library database was written by a newer rtplan (a schema this one cannot read)."""
