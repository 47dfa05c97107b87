"""Small argument checks shared by the noising modules."""

from __future__ import annotations


def _is_int(x: object) -> bool:
    """True for an int that is not a bool (``True`` is an int in Python)."""
    return isinstance(x, int) and not isinstance(x, bool)
