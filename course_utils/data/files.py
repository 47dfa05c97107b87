"""Where the small committed data files live (the repository's data/ folder)."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("COURSE_DATA_DIR", Path(__file__).resolve().parents[2] / "data"))


def data_file(name: str) -> Path:
    """The path of ``data/<name>``, with a clear error when it is missing."""
    path = DATA_DIR / name
    if not path.is_file():
        available = sorted(p.name for p in DATA_DIR.glob("*") if p.is_file()) if DATA_DIR.is_dir() else []
        raise FileNotFoundError(
            f"data file {name!r} not found in {DATA_DIR}. Install the course from its repository "
            f"(pip install -e .) or set COURSE_DATA_DIR to its data/ folder. "
            f"Files there: {', '.join(available) or 'none'}"
        )
    return path
