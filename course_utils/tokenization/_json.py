"""Saving and loading tokenizers as small JSON (or, for WordPiece, vocab.txt) files."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from .bpe_core import Pair

VERSION = 1


def write_json_atomic(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` so that readers never see a half-written file."""
    with _atomic_open(path) as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.write("\n")


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a half-written file."""
    with _atomic_open(path) as f:
        f.write(text)


@contextmanager
def _atomic_open(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A temporary file in ``path``'s folder that replaces ``path`` in one step
    (``os.replace``) once written; on an error it is deleted and ``path`` is untouched."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read_json(
    path: str | os.PathLike[str], format_name: str, keys: tuple[str, ...]
) -> dict[str, Any]:
    """Read a tokenizer file written by ``save``, checking its format, version and keys."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not a JSON tokenizer file: {error}") from None
    if not isinstance(data, dict) or data.get("format") != format_name:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{path}: expected format {format_name!r}, found {found!r}")
    keys = ("version", *keys)
    missing = [key for key in keys if key not in data]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}; a {format_name} file needs {list(keys)}")
    if data["version"] != VERSION:
        raise ValueError(f"{path}: unsupported version {data['version']!r}; this code reads {VERSION}")
    return data


def check_merges(merges: Any, where: str) -> list[Pair]:
    """Return ``merges`` as a list of pairs of strings, or raise ValueError."""
    if not isinstance(merges, list):
        raise ValueError(f"{where}: merges must be a list of [left, right] pairs of strings")
    for i, merge in enumerate(merges):
        if not (isinstance(merge, list) and len(merge) == 2 and all(_is_text(s) for s in merge)):
            raise ValueError(
                f"{where}: merge {i} is {merge!r}; each merge must be a pair of non-empty strings"
            )
    return [(left, right) for left, right in merges]


def check_strings(values: Any, where: str) -> list[str]:
    """Return ``values`` if it is a list of non-empty strings, or raise ValueError."""
    if not isinstance(values, list) or not all(_is_text(s) for s in values):
        raise ValueError(f"{where} must be a list of non-empty strings")
    return values


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value != ""
