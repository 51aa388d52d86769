"""Where the course's files are: the repository root and each chapter's notebooks."""
from __future__ import annotations

import os
from pathlib import Path


def course_root() -> Path:
    """The repository root: ``$COURSE_ROOT`` if set, else the folder above this package."""
    return Path(os.environ.get("COURSE_ROOT", Path(__file__).resolve().parents[1]))


def solutions_notebook(chapter: str) -> Path:
    return course_root() / "solutions" / chapter / f"{chapter}.ipynb"


def release_notebook(chapter: str) -> Path:
    return course_root() / "chapters" / chapter / f"{chapter}.ipynb"


def chapters() -> list[str]:
    """Slugs of the chapters in ``solutions/`` (``NN_slug``), in order."""
    folder = course_root() / "solutions"
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").is_file()) if folder.is_dir() else []
