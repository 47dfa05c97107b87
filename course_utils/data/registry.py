"""A registry of real corpora that a user may download on request, and loaders for them.

The course runs offline by default: importing this module touches no network, and
``load_dataset`` only reads the cache unless you pass ``download_if_missing=True``.

>>> sorted(DATASETS)
['sst2', 'tiny-shakespeare', 'wikitext-2']
>>> dataset_path("tiny-shakespeare", cache_dir="/tmp/my_cache").as_posix()
'/tmp/my_cache/tiny_shakespeare.txt'
"""

from __future__ import annotations

import csv
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_utils.data.download import (
    DownloadError,
    cache_dir,
    fetch,
    resolve_cache_dir,
    sha256_of,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DATASETS",
    "DatasetEntry",
    "DownloadError",
    "cache_dir",
    "dataset_path",
    "download",
    "load_dataset",
    "read_sst2",
    "read_text",
    "read_wikitext2",
]

PathLike = str | os.PathLike[str]
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DatasetEntry:
    """One downloadable file and how to read it.

    ``sha256`` is None only when no trusted checksum is known; ``download`` then refuses
    unless called with ``verify=False``. ``loader`` turns the cached file into data.
    """

    name: str
    description: str
    url: str
    sha256: str | None
    file_name: str
    size: int | None
    license: str
    citation: str
    loader: Callable[[Path], Any]

    def __post_init__(self) -> None:
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError(
                f"dataset {self.name!r}: sha256 must be 64 lowercase hex characters or None, "
                f"got {self.sha256!r}"
            )
        if not self.url.startswith(("https://", "http://")):
            raise ValueError(f"dataset {self.name!r}: url must start with https://, got {self.url!r}")
        if not self.file_name or Path(self.file_name).name != self.file_name:
            raise ValueError(
                f"dataset {self.name!r}: file_name must be a plain file name, got {self.file_name!r}"
            )


# ----------------------------------------------------------------------------- loaders


def read_text(path: PathLike) -> str:
    """The whole file as UTF-8 text (the tiny-shakespeare loader)."""
    return Path(path).read_text(encoding="utf-8")


def read_sst2(path: PathLike) -> dict[str, pd.DataFrame]:
    """GLUE's SST-2.zip as ``{"train": ..., "dev": ...}`` DataFrames with ``sentence``, ``label``.

    Labels are ints: 0 negative, 1 positive. (The zip's test.tsv has no labels and is skipped.)
    Sentences are read verbatim: quotes are not special and a sentence like "null" stays text.
    """
    import pandas as pd

    frames = {}
    with zipfile.ZipFile(path) as archive:
        for split in ("train", "dev"):
            with archive.open(_member(archive, f"{split}.tsv", path)) as f:
                frame = pd.read_csv(
                    f, sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False,
                    dtype={"sentence": str}, encoding="utf-8",
                )
            if list(frame.columns) != ["sentence", "label"]:
                raise ValueError(
                    f"{path}: {split}.tsv has columns {list(frame.columns)}; "
                    "SST-2 files have the header 'sentence<TAB>label'"
                )
            frames[split] = frame.astype({"label": int})
    return frames


WIKITEXT_SPLITS = {"train": "wiki.train.raw", "validation": "wiki.valid.raw", "test": "wiki.test.raw"}


def read_wikitext2(path: PathLike) -> dict[str, str]:
    """wikitext-2-raw-v1.zip as ``{"train": text, "validation": text, "test": text}``."""
    with zipfile.ZipFile(path) as archive:
        return {
            split: archive.read(_member(archive, member, path)).decode("utf-8")
            for split, member in WIKITEXT_SPLITS.items()
        }


def _member(archive: zipfile.ZipFile, file_name: str, path: PathLike) -> str:
    """The archive member called ``file_name`` (in any folder), or a clear ValueError."""
    names = archive.namelist()
    matches = [n for n in names if n.rsplit("/", 1)[-1] == file_name]
    if not matches:
        raise ValueError(
            f"{path} has no {file_name}; it contains {names[:10]}. Is it the right archive?"
        )
    return matches[0]


# ----------------------------------------------------------------------------- the registry

DATASETS: dict[str, DatasetEntry] = {
    entry.name: entry
    for entry in [
        DatasetEntry(
            name="tiny-shakespeare",
            description="40,000 lines of Shakespeare's plays in one 1.1 MB text file "
            "(karpathy's char-rnn input.txt). Loads as one string.",
            url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            # sha256 and size: huggingface/datasets, datasets/tiny_shakespeare/dataset_infos.json,
            # "download_checksums" for this exact URL (also its urls_checksums/checksums.txt).
            sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            file_name="tiny_shakespeare.txt",
            size=1_115_394,
            license="Shakespeare's text is in the public domain; char-rnn is MIT-licensed.",
            citation="Andrej Karpathy, char-rnn (2015), https://github.com/karpathy/char-rnn",
            loader=read_text,
        ),
        DatasetEntry(
            name="sst2",
            description="Stanford Sentiment Treebank, binary (GLUE SST-2): movie-review phrases "
            "labelled 0 negative / 1 positive. Loads as {'train', 'dev'} DataFrames "
            "(67,349 and 872 rows) with columns sentence, label.",
            url="https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
            # sha256 and size: huggingface/datasets, datasets/glue/dataset_infos.json, config
            # "sst2", "download_checksums" for this exact URL.
            sha256="d67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa",
            file_name="SST-2.zip",
            size=7_439_277,
            license="Distributed with GLUE for research use; see the SST and GLUE pages "
            "(https://nlp.stanford.edu/sentiment/, https://gluebenchmark.com/).",
            citation="Socher et al., Recursive Deep Models for Semantic Compositionality Over a "
            "Sentiment Treebank, EMNLP 2013; Wang et al., GLUE, ICLR 2019.",
            loader=read_sst2,
        ),
        DatasetEntry(
            name="wikitext-2",
            description="WikiText-2, raw version (wikitext-2-raw-v1: original text, no <unk> "
            "replacement, suited to training your own tokenizer): about 2 million words of "
            "Good and Featured Wikipedia articles. Loads as {'train', 'validation', 'test'} text.",
            # The original host, s3.amazonaws.com/research.metamind.io/wikitext/, now refuses
            # downloads; the dataset's author serves the same zip here.
            url="https://wikitext.smerity.com/wikitext-2-raw-v1.zip",
            # sha256 and size: huggingface/datasets, datasets/wikitext/dataset_infos.json, config
            # "wikitext-2-raw-v1", "download_checksums" for the original S3 URL
            # (https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip);
            # other public projects pin the same sha256 and size for the smerity.com URL.
            sha256="ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
            file_name="wikitext-2-raw-v1.zip",
            size=4_721_645,
            license="Creative Commons Attribution-ShareAlike (CC BY-SA), as Wikipedia's text.",
            citation="Merity, Xiong, Bradbury and Socher, Pointer Sentinel Mixture Models, "
            "arXiv:1609.07843 (2016).",
            loader=read_wikitext2,
        ),
    ]
}


# ----------------------------------------------------------------------------- the API


def dataset_path(name: str, cache_dir: PathLike | None = None) -> Path:
    """Where dataset ``name``'s file lives, or would live once downloaded.

    ``cache_dir`` is the folder holding the files; None means ``cache_dir()``.

    >>> dataset_path("sst2", cache_dir="/data").as_posix()
    '/data/SST-2.zip'
    """
    return resolve_cache_dir(cache_dir) / _entry(name).file_name


def download(
    name: str,
    cache_dir: PathLike | None = None,
    timeout: float = 30.0,
    verify: bool = True,
    progress: bool = True,
) -> Path:
    """Download dataset ``name`` into the cache (if needed) and return the file's path.

    When the file is already there and its checksum matches, nothing touches the network.
    The download streams into a temporary file and replaces the cached one only once its
    sha256 matches; a mismatch raises ValueError and leaves the cache as it was. Network
    failures raise DownloadError (a ConnectionError) that says how to place the file by hand.
    ``verify=False`` skips the checksum (the only way to download an entry without one).
    """
    entry = _entry(name)
    path = dataset_path(name, cache_dir)
    if verify and entry.sha256 is None:
        raise ValueError(
            f"dataset {name!r} has no known sha256, so its download cannot be verified. "
            f"Call download({name!r}, verify=False) to accept it unchecked, or place the file "
            f"from {entry.url} at {path} yourself."
        )
    if path.is_file() and (not verify or sha256_of(path) == entry.sha256):
        return path
    return fetch(
        entry.url,
        path,
        entry.sha256 if verify else None,
        timeout=timeout,
        progress=progress,
        size=entry.size,
        how_to_place=_how_to_place(entry, path),
    )


def load_dataset(
    name: str, cache_dir: PathLike | None = None, download_if_missing: bool = False
) -> Any:
    """Load dataset ``name`` from the cache (see each entry's description for what it returns).

    With ``download_if_missing=False`` (the default) this never touches the network: a missing
    file raises FileNotFoundError naming the URL, the exact path for the file and the call
    that downloads it. A cached file whose sha256 does not match raises ValueError.
    """
    entry = _entry(name)
    path = dataset_path(name, cache_dir)
    if not path.is_file():
        if not download_if_missing:
            args = repr(name) if cache_dir is None else f"{name!r}, cache_dir={str(cache_dir)!r}"
            raise FileNotFoundError(
                f"dataset {name!r} is not in the cache: no file at {path}. The course runs "
                f"offline by default. To download it, call download({args}) or "
                f"load_dataset({args}, download_if_missing=True). "
                + _how_to_place(entry, path)
            )
        download(name, cache_dir)
    elif entry.sha256 is not None:
        actual = sha256_of(path)
        if actual != entry.sha256:
            raise ValueError(
                f"{path} is not the expected file for dataset {name!r}: its sha256 is {actual}, "
                f"expected {entry.sha256}. Delete it and call download({name!r}), or place the "
                f"file from {entry.url} there."
            )
    return entry.loader(path)


def _entry(name: str) -> DatasetEntry:
    try:
        return DATASETS[name]
    except KeyError:
        raise KeyError(
            f"unknown dataset {name!r}; the registry has: {', '.join(sorted(DATASETS))}"
        ) from None


def _how_to_place(entry: DatasetEntry, path: Path) -> str:
    return (
        f"Without network: download {entry.url} on any machine (e.g. in a browser) and place "
        f"it at {path} (that exact file name)."
    )
