"""Fetching one file over HTTP(S) into the cache, safely: checked, atomic, never half-written.

The course runs offline by default. Nothing here is called on import; a download starts only
when a user asks for one (``course_utils.data.registry.download``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

CACHE_ENV_VAR = "COURSE_CACHE_DIR"
CHUNK_SIZE = 1 << 16
# Some hosts (wikitext.smerity.com among them) refuse urllib's default "Python-urllib/3.x".
USER_AGENT = "Mozilla/5.0 (compatible; course_utils dataset download)"


class DownloadError(ConnectionError):
    """A download failed for a network reason: server down, DNS failure, timeout, HTTP error."""


def cache_dir() -> Path:
    """The folder where downloaded datasets are kept (it may not exist yet).

    ``$COURSE_CACHE_DIR/datasets`` when that variable is set, else ``datasets/`` in the user's
    cache folder: ``$XDG_CACHE_HOME/course_utils`` or ``~/.cache/course_utils`` on Linux,
    ``~/Library/Caches/course_utils`` on macOS, ``%LOCALAPPDATA%\\course_utils`` on Windows.

    >>> cache_dir().name
    'datasets'
    """
    return cache_root() / "datasets"


def cache_root() -> Path:
    """The course's cache folder, parent of ``datasets/`` and ``checkpoints/`` (may not exist yet).

    ``$COURSE_CACHE_DIR`` when that variable is set, else the user's cache folder (see
    ``cache_dir``).
    """
    root = os.environ.get(CACHE_ENV_VAR)
    return Path(root).expanduser() if root else _user_cache_root()


def resolve_cache_dir(folder: str | os.PathLike[str] | None) -> Path:
    """``folder`` as a Path, or ``cache_dir()`` when it is None.

    >>> resolve_cache_dir("/tmp/my_cache").as_posix()
    '/tmp/my_cache'
    """
    return cache_dir() if folder is None else Path(folder).expanduser()


def _user_cache_root() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "course_utils"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "course_utils"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "course_utils"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as 64 lowercase hex characters."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(
    url: str,
    path: Path,
    sha256: str | None,
    *,
    timeout: float = 30.0,
    progress: bool = True,
    size: int | None = None,
    how_to_place: str = "",
) -> Path:
    """Download ``url`` to ``path``; when ``sha256`` is given, keep the file only if it matches.

    The bytes stream into a temporary file next to ``path`` while their SHA-256 is computed;
    the file then replaces ``path`` in one step (``os.replace``). On any failure the temporary
    file is deleted, so no partial or corrupt file is left and a file already at ``path`` stays.

    Raises DownloadError (a ConnectionError) for network failures, with ``how_to_place``
    appended to the message, and ValueError when the checksum does not match.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            actual = _stream(url, f, timeout=timeout, progress=progress, size=size, label=path.name)
        if sha256 is not None and actual != sha256:
            raise ValueError(
                f"checksum mismatch for {url}: expected sha256 {sha256}, got {actual}. "
                f"The download was discarded; nothing was written to {path}. The server may "
                "have changed the file, or the transfer was corrupted: try again later."
            )
        os.replace(tmp_name, path)
    except DownloadError as error:
        Path(tmp_name).unlink(missing_ok=True)
        raise DownloadError(f"{error} {how_to_place}".strip()) from error.__cause__
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _stream(url: str, f: BinaryIO, *, timeout: float, progress: bool, size: int | None, label: str) -> str:
    """Copy ``url``'s bytes into the open file ``f``; return their SHA-256."""
    from tqdm.auto import tqdm

    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or size
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                disable=not progress,
            ) as bar:
                for chunk in iter(lambda: response.read(CHUNK_SIZE), b""):
                    f.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise DownloadError(
            f"could not download {url}: the server answered HTTP {error.code} {error.reason}."
        ) from error
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError) or isinstance(error, TimeoutError):
            reason = f"no answer within {timeout} s (timeout)"
        raise DownloadError(
            f"could not download {url}: {reason}. Are you online? "
            "The course runs offline by default and only downloads when you ask."
        ) from error
    return digest.hexdigest()
