"""Notebook 06 on a text file of one's own: the parameters cell points at a file, and the same
cells run top to bottom (sections 2 to 5 on that text, 6 and 7 on the small world)."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from notebook_files import ROOT

NOTEBOOK = ROOT / "notebooks" / "06_gpt.ipynb"
STORY = ("Once upon a time a small fox lived near the river. Every morning the fox walked to the water "
         "and looked at the fish.\n\nOne day the river was gone. The fox walked for a long time and found "
         "a lake, bigger than the river had ever been.\n\n")


@pytest.mark.parametrize("tokenizer", ["char", "bpe"])
def test_notebook_06_runs_on_your_own_text(tmp_path, monkeypatch, tokenizer):
    corpus = tmp_path / "story.txt"
    corpus.write_text(STORY * 40)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1, "notebook 06 needs one cell tagged 'parameters'"
    parameters[0].source = f"TEXT_FILE = {str(corpus)!r}\nTEXT_TOKENIZER = {tokenizer!r}\nBPE_MERGES = 60"
    monkeypatch.setenv("COURSE_SCALE", "smoke")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "\n".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", [])
                        if output.get("output_type") == "stream")
    assert "story.txt" in outputs and f"({tokenizer} tokens)" in outputs
