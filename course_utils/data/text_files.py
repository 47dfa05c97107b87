"""Your own text as a pretraining corpus: read a local UTF-8 file, with clear errors."""

from __future__ import annotations

import codecs
import os
from pathlib import Path


def read_text_corpus(path: str | os.PathLike[str], min_chars: int = 1) -> str:
    """The text of a local UTF-8 file, checked to be usable as a corpus.

    A leading byte-order mark is dropped and line endings become ``"\\n"``. Raises
    FileNotFoundError for a missing file, IsADirectoryError for a folder, and ValueError for
    a file that is not UTF-8 text (naming the first bad byte), that is empty or only
    whitespace, or that has fewer than ``min_chars`` characters.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     corpus = Path(folder) / "poem.txt"
    ...     _ = corpus.write_bytes("Habari ya asubuhi\\r\\nNzuri sana\\r\\n".encode("utf-8"))
    ...     read_text_corpus(corpus)
    'Habari ya asubuhi\\nNzuri sana\\n'
    """
    if isinstance(min_chars, bool) or not isinstance(min_chars, int) or min_chars < 1:
        raise ValueError(f"min_chars must be a positive int, got {min_chars!r}")
    path = Path(path).expanduser()
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.is_file())[:5]
        raise IsADirectoryError(
            f"{path} is a folder; read_text_corpus needs one text file. "
            f"Files in it: {', '.join(inside) or 'none'}"
        )
    if not path.exists():
        raise FileNotFoundError(f"no file at {path.resolve()} (check the name and the folder)")
    data = path.read_bytes()
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    nul = data.find(b"\x00", start)
    if nul >= 0:
        raise ValueError(
            f"{path} does not look like UTF-8 text: byte {nul} is a NUL (0x00), "
            "which text files do not contain. Is it a binary file, or UTF-16 text?"
        )
    try:
        text = data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        at = start + error.start
        raise ValueError(
            f"{path} does not look like UTF-8 text: byte {at} (0x{data[at]:02x}) is not valid "
            f"UTF-8 ({error.reason}). If it is text in another encoding, save it as UTF-8 first."
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise ValueError(
            f"{path} is empty" if not text else f"{path} contains only whitespace"
        )
    if len(text) < min_chars:
        raise ValueError(
            f"{path} has {len(text)} characters; this corpus needs at least {min_chars}"
        )
    return text
