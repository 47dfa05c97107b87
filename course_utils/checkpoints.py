"""Trained models shared between notebooks: a small, safe checkpoint cache.

Notebook 04 pretrains a tiny BERT; notebooks 05, 08 and 09 reuse it. Each notebook must also
run alone in a fresh kernel, so ``cached_model`` loads the model when a checkpoint exists and
trains (then saves) it when it does not. Four choices keep that cache trustworthy:

* **The file name includes a hash of everything that shaped the weights** (config, scale,
  training settings, a ``version`` number): ``checkpoint_key``. Change any of them and the
  name changes, so a stale checkpoint is never loaded by mistake.
* **Writes are atomic**: the checkpoint goes to a temporary file in the same folder, which then
  replaces the target in one step (``os.replace``). A crash or Ctrl-C mid-save leaves either the
  old file or the new one, never half a file.
* **Loads use ``torch.load(..., weights_only=True)``**: only tensors and plain values (str,
  numbers, lists, dicts) are unpickled, so opening a checkpoint cannot run arbitrary code.
  That is why metadata is restricted to JSON-like values.
* **A file lock** (``FileLock``) around "load or train": when several kernels start at once
  (notebook tests run in parallel), one trains and the others wait, then load its result.

>>> import torch
>>> from tempfile import TemporaryDirectory
>>> with TemporaryDirectory() as folder:
...     model, info = cached_model(
...         checkpoint_key("demo", version=1), lambda: torch.nn.Linear(2, 1),
...         lambda model: {"loss": 0.5}, folder=folder, verbose=False)
...     again, info_again = cached_model(
...         checkpoint_key("demo", version=1), lambda: torch.nn.Linear(2, 1),
...         lambda model: 1 / 0, folder=folder, verbose=False)  # loaded: train is not called
>>> torch.equal(model.weight, again.weight), info_again
(True, {'loss': 0.5})
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

import torch
from torch import Tensor, nn

from course_utils.data.download import cache_root

__all__ = [
    "FORMAT",
    "FileLock",
    "cached_model",
    "checkpoint_dir",
    "checkpoint_key",
    "load_checkpoint",
    "save_checkpoint",
]

FORMAT = 1  # bump when the layout of the saved dictionary changes
_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # safe as a file name on every system
_JSON_SCALARS = (str, int, float, bool, type(None))

PathLike = str | os.PathLike[str]


def checkpoint_dir() -> Path:
    """The folder where trained models are cached (it may not exist yet).

    ``$COURSE_CACHE_DIR/checkpoints`` when that variable is set, else ``checkpoints/`` in the
    user's cache folder, next to the downloaded ``datasets/`` (see ``course_utils.data``).

    >>> checkpoint_dir().name
    'checkpoints'
    """
    return cache_root() / "checkpoints"


# ----------------------------------------------------------------------------- keys


def checkpoint_key(name: str, **parts: Any) -> str:
    """A file stem naming a model *and* everything that shaped its weights.

    ``parts`` may hold dataclasses (a frozen ``ModelConfig``, a scale section), dicts, lists,
    tuples, str, int, float, bool and None, nested freely. They are turned into canonical JSON
    (dataclasses via ``dataclasses.asdict``, keys sorted) whose SHA-256 gives the suffix: any
    change, however deep, gives another key; the order of keyword arguments does not matter.

    >>> checkpoint_key("tiny-bert", version=1, steps=200)
    'tiny-bert-95af1f5ff1f2'
    >>> checkpoint_key("tiny-bert", steps=200, version=1)  # same parts, any order
    'tiny-bert-95af1f5ff1f2'
    >>> checkpoint_key("tiny-bert", version=2, steps=200)
    'tiny-bert-ad12226dad57'
    """
    _check_stem(name, "name")
    canonical = json.dumps(_jsonable(parts, "parts"), sort_keys=True, separators=(",", ":"))
    return f"{name}-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON data; TypeError naming ``where`` for anything else."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value), where)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; keys must be str")
        return {key: _jsonable(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if type(value) in _JSON_SCALARS:
        return value
    raise TypeError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which cannot go into "
        "a checkpoint key; allowed: dataclasses, dict, list, tuple, str, int, float, bool, None"
    )


def _check_stem(text: str, what: str) -> None:
    if not isinstance(text, str) or not _STEM.fullmatch(text):
        raise ValueError(
            f"{what} {text!r} cannot be used in a file name; use letters, digits, '.', '_' and "
            "'-', starting with a letter or digit (for example 'tiny-bert')"
        )


# ----------------------------------------------------------------------------- save and load


def save_checkpoint(
    path: PathLike, state_dict: dict[str, Tensor], metadata: dict[str, Any] | None = None
) -> Path:
    """Save ``state_dict`` (moved to the CPU) and ``metadata`` to ``path``, atomically.

    The file holds ``{"format": 1, "state_dict": ..., "metadata": ...}``. ``metadata`` (for
    example the loss curve and the training time) may only contain dicts with str keys, lists,
    tuples, str, int, float, bool and None, so the file loads with ``weights_only=True``.
    A failure at any point leaves ``path`` as it was (absent, or the previous checkpoint).
    """
    path = Path(path).expanduser()
    _check_state_dict(state_dict)
    metadata = {} if metadata is None else metadata
    if type(metadata) is not dict:
        raise TypeError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    _check_metadata(metadata, "metadata")
    saved = {
        "format": FORMAT,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in state_dict.items()},
        "metadata": metadata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(saved, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the file gets its real name
        os.chmod(tmp_name, 0o644)  # mkstemp makes files private; a checkpoint is not a secret
        os.replace(tmp_name, path)
    except BaseException:  # also Ctrl-C: never leave a temporary file behind
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: PathLike) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a file written by ``save_checkpoint``: ``(state_dict, metadata)``, tensors on the CPU.

    Raises FileNotFoundError when there is no file, and ValueError when the file is damaged
    (truncated, say) or is not a checkpoint in this format.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise  # a problem with the disk or the permissions, not with the file's content
    except Exception as error:  # torch raises many kinds for damaged bytes
        raise ValueError(
            f"the checkpoint {path} is damaged or is not a PyTorch checkpoint ({error}). "
            "Delete it to train the model again."
        ) from error
    if not isinstance(saved, dict) or set(saved) != {"format", "state_dict", "metadata"}:
        raise ValueError(
            f"{path} is not a course_utils checkpoint (a dict with 'format', 'state_dict' and "
            "'metadata', written by save_checkpoint). Delete it to train the model again."
        )
    if saved["format"] != FORMAT:
        raise ValueError(
            f"{path} has checkpoint format {saved['format']!r}; this version of course_utils reads "
            f"format {FORMAT}. Delete it to train the model again."
        )
    return saved["state_dict"], saved["metadata"]


def _check_state_dict(state_dict: Any) -> None:
    if not isinstance(state_dict, dict):
        raise TypeError(f"state_dict must be a dict of str to Tensor, got {type(state_dict).__name__}")
    for name, tensor in state_dict.items():
        if not isinstance(name, str) or not isinstance(tensor, Tensor):
            raise TypeError(
                f"state_dict must map str to Tensor; entry {name!r} is a {type(tensor).__name__}"
            )


def _check_metadata(value: Any, where: str) -> None:
    """TypeError naming the first value ``weights_only=True`` could not load back (or not as JSON).

    Types are compared exactly: a numpy.float64 *is* a float subclass but is pickled as a numpy
    object, which ``weights_only=True`` refuses.
    """
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{where} has a key {key!r} of type {type(key).__name__}; keys must be str")
            _check_metadata(item, f"{where}[{key!r}]")
    elif type(value) in (list, tuple):
        for i, item in enumerate(value):
            _check_metadata(item, f"{where}[{i}]")
    elif type(value) not in _JSON_SCALARS:
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__qualname__}; checkpoint metadata "
            "may only hold dict (str keys), list, tuple, str, int, float, bool and None. "
            "Convert it first, e.g. float(x), x.item() or x.tolist()."
        )


# ----------------------------------------------------------------------------- the lock


class FileLock:
    """Hold an exclusive lock on the file ``path`` (created if needed) across processes.

    ``with FileLock("model.pt.lock"): ...`` waits until no other process holds the lock, polling
    every ``poll`` seconds; after ``timeout`` seconds (None: wait forever) it raises
    TimeoutError. The operating system releases the lock when the holder exits or crashes, so a
    leftover lock file is harmless (it is never deleted: deleting lock files invites races).
    POSIX uses ``fcntl.flock``, Windows ``msvcrt.locking``. Not reentrant: entering a second
    lock on the same path in the same process waits for the first.
    """

    def __init__(self, path: PathLike, timeout: float | None = None, poll: float = 0.1) -> None:
        if timeout is not None and timeout < 0:
            raise ValueError(f"timeout must be None (wait forever) or >= 0 seconds, got {timeout}")
        if poll <= 0:
            raise ValueError(f"poll must be > 0 seconds, got {poll}")
        self.path = Path(path).expanduser()
        self.timeout = timeout
        self.poll = poll
        self._fd: int | None = None

    def __enter__(self) -> FileLock:
        if self._fd is not None:
            raise RuntimeError(f"this FileLock on {self.path} is already held")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        try:
            while not _try_lock(fd):
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"could not lock {self.path} within {self.timeout} s: another process "
                        "holds it (probably training the same model). Wait for it, or stop it."
                    )
                time.sleep(self.poll)
        except BaseException:  # the timeout, or Ctrl-C while waiting
            os.close(fd)
            raise
        self._fd = fd
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._fd is not None  # __exit__ only runs after a successful __enter__
        try:
            _unlock(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None


if sys.platform == "win32":
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)  # msvcrt locks bytes from the current position: byte 0
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------- load or train


def cached_model(
    key: str,
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], dict[str, Any] | None],
    *,
    folder: PathLike | None = None,
    retrain: bool = False,
    verbose: bool = True,
) -> tuple[nn.Module, dict[str, Any]]:
    """The model saved under ``key``, or a freshly trained one: ``(model, metadata)``, in eval mode.

    ``build()`` makes an untrained model; ``train(model)`` trains it in place and returns
    JSON-like metadata (loss curve, training time, ...) or None. With a checkpoint
    ``<folder>/<key>.pt`` (``folder`` defaults to ``checkpoint_dir()``) and ``retrain=False``,
    the weights are loaded into ``build()`` (``strict=True``) and ``train`` is not called;
    otherwise the model is trained and saved atomically. A checkpoint that is damaged or does not
    fit the built model is renamed to ``<key>.pt.damaged`` with a warning, and the model is
    trained again. A file lock makes parallel callers train a given key once: the others wait,
    then load. Build ``key`` with ``checkpoint_key`` so that any change of config gives a new file.
    """
    _check_stem(key, "key")
    folder = checkpoint_dir() if folder is None else Path(folder).expanduser()
    path = folder / f"{key}.pt"
    with FileLock(path.with_name(path.name + ".lock")):
        if path.exists() and not retrain:
            model = build()
            try:
                state_dict, metadata = load_checkpoint(path)
                model.load_state_dict(state_dict, strict=True)
            except (ValueError, RuntimeError) as error:  # damaged file / weights do not fit
                damaged = path.with_name(path.name + ".damaged")
                os.replace(path, damaged)
                warnings.warn(
                    f"could not load the checkpoint {path}: {error} It was renamed to {damaged}; "
                    "training the model again.",
                    stacklevel=2,
                )
            else:
                if verbose:
                    print(f"loaded {key} from the checkpoint cache ({shown_path(path)})")
                return model.eval(), metadata
        model = build()  # a fresh one: a failed load may have filled part of the other
        metadata = train(model) or {}
        save_checkpoint(path, model.state_dict(), metadata)
        if verbose:
            print(f"trained and saved {key} to the checkpoint cache ({shown_path(path)})")
        return model.eval(), metadata


def shown_path(path: Path) -> str:
    """``path`` for messages, with the home folder written ``~`` (no user names in outputs)."""
    try:
        return str(Path("~") / Path(path).relative_to(Path.home()))
    except ValueError:
        return str(path)
