"""Errors every loader raises, so a user always learns which file and line is wrong."""

from __future__ import annotations

from pathlib import Path


class MalformedInputError(ValueError):
    """
    Input that cannot be loaded, located precisely.

    Parameters
    ----------
    path : str | Path
        The offending file.
    location : str
        ``"line 17"`` for text formats, ``"row 17"`` for tables.
    reason : str
        What is wrong, in the user's terms.

    """

    def __init__(self, path: str | Path, location: str | None, reason: str) -> None:
        self.path = str(path)
        self.location = location
        self.reason = reason
        where = f"{self.path}, {location}" if location else self.path
        super().__init__(f"{where}: {reason}")
