"""The version of rtplan.

It lives in its own module so that every layer (the DICOM writers stamp it into each
object they write) can read it without importing the package root.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__: str = "0.1.0"
