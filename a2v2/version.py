"""The release this code is (pyproject.toml's version; CHANGELOG.md says what is in it)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@cache
def version() -> str:
    # A source checkout's pyproject.toml is the truth; an installed wheel has only metadata.
    if PYPROJECT.exists():
        with PYPROJECT.open("rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    try:
        return metadata.version("a2v2")
    except metadata.PackageNotFoundError:
        return "unknown"
