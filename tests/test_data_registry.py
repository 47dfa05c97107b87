"""The dataset registry, against a real HTTP server on 127.0.0.1 (no internet needed)."""

import functools
import hashlib
import http.server
import socket
import subprocess
import sys
import threading
import urllib.request
import zipfile
from pathlib import Path

import pytest

from course_utils.data import registry
from course_utils.data.registry import DatasetEntry, dataset_path, download, load_dataset

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class LocalServer:
    """http.server serving a temporary folder on 127.0.0.1 in a thread."""

    def __init__(self, folder: Path):
        self.folder = folder
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.running = True

    def url(self, file_name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{file_name}"

    def put(self, file_name: str, data: bytes) -> str:
        (self.folder / file_name).write_bytes(data)
        return self.url(file_name)

    def stop(self) -> None:
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=5)
            self.running = False


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    local = LocalServer(folder)
    yield local
    local.stop()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def add_entry(monkeypatch, url, data=None, *, name="local-text", file_name="local.txt", **fields):
    """Register a dataset at ``url`` whose sha256 is that of ``data`` (or ``fields["sha256"]``)."""
    fields.setdefault("sha256", hashlib.sha256(data).hexdigest() if data is not None else None)
    entry = DatasetEntry(
        name=name,
        description="a test file",
        url=url,
        file_name=file_name,
        size=len(data) if data is not None else None,
        license="test",
        citation="test",
        loader=fields.pop("loader", registry.read_text),
        **fields,
    )
    monkeypatch.setitem(registry.DATASETS, name, entry)
    return entry


def no_network(*args, **kwargs):
    raise AssertionError("the network was used")


def test_download_verifies_then_uses_the_cache_without_network(server, cache, monkeypatch):
    data = TEXT.encode()
    add_entry(monkeypatch, server.put("local.txt", data), data)

    path = download("local-text", cache_dir=cache, progress=False)
    assert path == dataset_path("local-text", cache) == cache / "local.txt"
    assert path.read_bytes() == data
    assert [p.name for p in cache.iterdir()] == ["local.txt"]  # no temporary file left

    server.stop()
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert download("local-text", cache_dir=cache, progress=False) == path
    assert load_dataset("local-text", cache_dir=cache) == TEXT


def test_load_dataset_can_download_when_asked(server, cache, monkeypatch):
    data = TEXT.encode()
    add_entry(monkeypatch, server.put("local.txt", data), data)
    assert load_dataset("local-text", cache_dir=cache, download_if_missing=True) == TEXT


def test_checksum_mismatch_leaves_no_file(server, cache, monkeypatch):
    url = server.put("local.txt", b"not what was promised")
    entry = add_entry(monkeypatch, url, TEXT.encode())
    with pytest.raises(ValueError, match="checksum mismatch") as error:
        download("local-text", cache_dir=cache, progress=False)
    message = str(error.value)
    assert entry.sha256 in message and url in message
    assert hashlib.sha256(b"not what was promised").hexdigest() in message
    assert list(cache.iterdir()) == []


def test_a_bad_download_never_replaces_a_good_file(server, cache, monkeypatch):
    good = TEXT.encode()
    add_entry(monkeypatch, server.put("local.txt", good), good)
    path = download("local-text", cache_dir=cache, progress=False)

    # The same entry, but the server now sends other bytes and the entry wants yet others.
    server.put("local.txt", b"tampered")
    add_entry(monkeypatch, server.url("local.txt"), b"a newer version")
    with pytest.raises(ValueError, match="checksum mismatch"):
        download("local-text", cache_dir=cache, progress=False)
    assert path.read_bytes() == good
    assert [p.name for p in cache.iterdir()] == ["local.txt"]


def test_verify_false_accepts_an_entry_without_checksum(server, cache, monkeypatch):
    add_entry(monkeypatch, server.put("local.txt", b"anything"), sha256=None)
    with pytest.raises(ValueError, match="no known sha256.*verify=False"):
        download("local-text", cache_dir=cache, progress=False)
    assert not cache.exists() or list(cache.iterdir()) == []
    path = download("local-text", cache_dir=cache, verify=False, progress=False)
    assert path.read_bytes() == b"anything"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_raises_a_clear_connection_error(cache, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/local.txt"
    add_entry(monkeypatch, url, TEXT.encode())
    with pytest.raises(ConnectionError) as error:
        download("local-text", cache_dir=cache, timeout=5, progress=False)
    assert isinstance(error.value, registry.DownloadError)
    message = str(error.value)
    assert url in message
    assert "offline by default" in message
    assert str(cache / "local.txt") in message
    assert not cache.exists() or list(cache.iterdir()) == []


def test_http_404_raises_clearly(server, cache, monkeypatch):
    url = server.url("missing.txt")
    add_entry(monkeypatch, url, TEXT.encode())
    with pytest.raises(ConnectionError, match="HTTP 404") as error:
        download("local-text", cache_dir=cache, progress=False)
    assert url in str(error.value) and str(cache / "local.txt") in str(error.value)
    assert list(cache.iterdir()) == []


def test_a_server_that_never_answers_times_out(cache, monkeypatch):
    with socket.socket() as silent:  # accepts connections (backlog) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/local.txt"
        add_entry(monkeypatch, url, TEXT.encode())
        with pytest.raises(ConnectionError, match="timeout") as error:
            download("local-text", cache_dir=cache, timeout=0.5, progress=False)
    assert url in str(error.value)
    assert list(cache.iterdir()) == []


def test_load_dataset_without_the_file_says_where_to_put_it(cache, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("sst2", cache_dir=cache)
    message = str(error.value)
    assert registry.DATASETS["sst2"].url in message
    assert str(cache / "SST-2.zip") in message
    assert f"download('sst2', cache_dir='{cache}')" in message
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))
    with pytest.raises(FileNotFoundError, match=r"call download\('sst2'\) or"):
        load_dataset("sst2")


def test_load_dataset_rejects_a_wrong_file_in_the_cache(cache):
    cache.mkdir()
    (cache / "tiny_shakespeare.txt").write_text("not shakespeare")
    with pytest.raises(ValueError, match="sha256"):
        load_dataset("tiny-shakespeare", cache_dir=cache)


def test_unknown_name_lists_the_datasets():
    with pytest.raises(KeyError, match="sst2.*tiny-shakespeare.*wikitext-2"):
        dataset_path("no-such-corpus")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert registry.cache_dir() == tmp_path / "datasets"
    assert dataset_path("sst2") == tmp_path / "datasets" / "SST-2.zip"
    monkeypatch.delenv("COURSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert registry.cache_dir() == tmp_path / "xdg" / "course_utils" / "datasets"


# ----------------------------------------------------------------------------- loaders


def make_zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def test_read_sst2_parses_a_small_glue_zip(tmp_path):
    train = 'sentence\tlabel\nhide new secretions from the parental units \t0\n"a gem" , really \t1\nnull \t1\n'
    dev = "sentence\tlabel\nit 's a charming and often affecting journey . \t1\n"
    path = make_zip(tmp_path / "SST-2.zip", {
        "SST-2/train.tsv": train,
        "SST-2/dev.tsv": dev,
        "SST-2/test.tsv": "index\tsentence\n0\tuneasy mishmash\n",
    })
    splits = registry.read_sst2(path)
    assert set(splits) == {"train", "dev"}
    frame = splits["train"]
    assert list(frame.columns) == ["sentence", "label"]
    assert frame.label.tolist() == [0, 1, 1]
    assert frame.sentence.tolist()[1:] == ['"a gem" , really ', "null "]
    assert len(splits["dev"]) == 1


def test_read_sst2_names_a_missing_member(tmp_path):
    path = make_zip(tmp_path / "SST-2.zip", {"SST-2/train.tsv": "sentence\tlabel\n"})
    with pytest.raises(ValueError, match="dev.tsv"):
        registry.read_sst2(path)


def test_read_wikitext2_parses_a_small_raw_zip(tmp_path):
    members = {
        f"wikitext-2-raw/wiki.{split}.raw": f" = {split.title()} = \n\n Héllo {split} . \n"
        for split in ("train", "valid", "test")
    }
    splits = registry.read_wikitext2(make_zip(tmp_path / "wikitext-2-raw-v1.zip", members))
    assert list(splits) == ["train", "validation", "test"]
    assert splits["validation"] == " = Valid = \n\n Héllo valid . \n"


def test_loaders_through_load_dataset(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    shakespeare = cache / "tiny.txt"
    shakespeare.write_text(TEXT, encoding="utf-8")
    add_entry(monkeypatch, "https://example.invalid/input.txt", shakespeare.read_bytes(),
              name="tiny", file_name="tiny.txt")
    assert load_dataset("tiny", cache_dir=cache) == TEXT

    wiki = make_zip(cache / "wiki.zip", {
        f"wikitext-2-raw/wiki.{s}.raw": s for s in ("train", "valid", "test")
    })
    add_entry(monkeypatch, "https://example.invalid/wiki.zip", wiki.read_bytes(),
              name="wiki", file_name="wiki.zip", loader=registry.read_wikitext2)
    assert load_dataset("wiki", cache_dir=cache)["test"] == "test"


# ----------------------------------------------------------------------------- the real entries


@pytest.mark.parametrize("name", ["tiny-shakespeare", "sst2", "wikitext-2"])
def test_real_entries_are_complete(name):
    entry = registry.DATASETS[name]
    assert entry.name == name
    assert entry.url.startswith("https://")
    # None is allowed by DatasetEntry, but every shipped entry has a published checksum.
    assert entry.sha256 is not None and len(entry.sha256) == 64
    int(entry.sha256, 16)
    assert entry.size and entry.size > 0
    assert entry.description and entry.license and entry.citation
    assert callable(entry.loader)


def test_entry_rejects_a_malformed_checksum():
    with pytest.raises(ValueError, match="64 lowercase hex"):
        DatasetEntry("x", "", "https://a/b", "abc123", "b", None, "", "", registry.read_text)


def test_importing_the_registry_uses_no_network():
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('network used on import')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "import course_utils.data.registry as r, course_utils.data.text_files\n"
        "assert len(r.DATASETS) >= 3\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
