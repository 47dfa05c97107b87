"""Reading your own text file as a pretraining corpus."""

import pytest

from course_utils.data.text_files import read_text_corpus


def test_reads_utf8_text(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes("\ufeffNinakupenda 💛\r\nÇa va ?\rdone\n".encode("utf-8"))
    assert read_text_corpus(path) == "Ninakupenda 💛\nÇa va ?\ndone\n"
    assert read_text_corpus(str(path), min_chars=10).startswith("Ninakupenda")


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_text_corpus(path)


def test_a_folder_is_not_a_text_file(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(IsADirectoryError, match="folder.*a.txt"):
        read_text_corpus(tmp_path)


@pytest.mark.parametrize("content, why", [(b"", "empty"), (b" \n\t\r\n ", "only whitespace")])
def test_empty_files_are_rejected(tmp_path, content, why):
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=why):
        read_text_corpus(path)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("model.bin", b"PK\x03\x04\x00\x00binary", r"does not look like UTF-8 text: byte 4 is a NUL"),
        ("utf16.txt", "hello".encode("utf-16-le"), "byte 1 is a NUL"),  # UTF-16 is caught by its NULs
        # é is the single byte 0xe9 in latin-1: the message names the byte
        ("latin1.txt", "café au lait".encode("latin-1"), r"does not look like UTF-8 text: byte 3 \(0xe9\)"),
        ("bom.txt", b"\xef\xbb\xbfab\xff", r"byte 5 \(0xff\)"),  # offsets count the byte order mark
    ],
    ids=["nul-bytes-mean-binary", "utf16", "invalid-utf8-names-the-byte", "offsets-count-the-bom"],
)
def test_bytes_that_are_not_utf8_text_are_rejected(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_text_corpus(path)


def test_min_chars(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("tiny", encoding="utf-8")
    with pytest.raises(ValueError, match="4 characters.*at least 100"):
        read_text_corpus(path, min_chars=100)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="positive int"):
            read_text_corpus(path, min_chars=bad)
