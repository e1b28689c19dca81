"""Word lists kept as data files (``data/*.txt``), one word or phrase a line.

A list is read once and compiled into one case-insensitive pattern: spaces in a phrase
match any run of spaces (or none: OCR drops them), and a word never matches inside a
longer word. Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def words(name: str) -> tuple[str, ...]:
    """The entries of ``data/<name>.txt``, longest first (so phrases win over their words)."""
    lines = (DATA_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    entries = {ln.strip().upper() for ln in lines if ln.strip() and not ln.startswith("#")}
    return tuple(sorted(entries, key=lambda w: (-len(w), w)))


def _entry_pattern(entry: str) -> str:
    parts = [re.escape(p) for p in entry.split()]
    body = r"\s*".join(parts)
    start = r"(?<![A-Za-z0-9])" if entry[0].isalnum() else ""
    end = r"(?![A-Za-z0-9])" if entry[-1].isalnum() else ""
    return start + body + end


@cache
def pattern(name: str) -> re.Pattern[str]:
    """One pattern matching any entry of the list."""
    return re.compile("|".join(_entry_pattern(w) for w in words(name)), re.IGNORECASE)


def count(name: str, text: str) -> int:
    """How many entries of the list occur in ``text`` (non-overlapping, longest first)."""
    return len(pattern(name).findall(text))
