"""Text that a database can store: PostgreSQL refuses NUL (U+0000) in text and in jsonb,
SQLite stores it silently. Refused at the door so both behave alike."""

from __future__ import annotations

from typing import Any

NUL = "\x00"
NUL_MESSAGE = "Text may not contain NUL (\\u0000) characters."


def paths_with_nul(value: Any, path: str = "") -> list[str]:
    """Dotted paths (`customFields.plan`, `fields.0`) of every string, or key, in a JSON
    value that holds a NUL; `__all__` for the value itself."""
    if isinstance(value, str):
        return [path or "__all__"] if NUL in value else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            if NUL in str(key):
                found.append(child.replace(NUL, "\\u0000"))
            else:
                found += paths_with_nul(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths_with_nul(item, f"{path}.{index}" if path else str(index))
    return found
