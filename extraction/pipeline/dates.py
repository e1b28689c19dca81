"""Small, dependency-free date finder and normaliser (numeric and month-name dates).

Numeric dates are read day-first (``EXTRACTION_DATE_ORDER=MDY`` switches the
default) and swapped automatically when only the other order is a valid date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from . import config

MONTHS = {
    # English
    "jan": 1,
    "january": 1,
    "feb": 2,
    "february": 2,
    "mar": 3,
    "march": 3,
    "apr": 4,
    "april": 4,
    "may": 5,
    "jun": 6,
    "june": 6,
    "jul": 7,
    "july": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "oct": 10,
    "october": 10,
    "nov": 11,
    "november": 11,
    "dec": 12,
    "december": 12,
    # Dutch / German / French / Spanish / Malay (the common ones that differ)
    "januari": 1,
    "februari": 2,
    "maart": 3,
    "mei": 5,
    "juni": 6,
    "juli": 7,
    "augustus": 8,
    "okt": 10,
    "oktober": 10,
    "januar": 1,
    "februar": 2,
    "märz": 3,
    "maerz": 3,
    "mai": 5,
    "dez": 12,
    "dezember": 12,
    "janvier": 1,
    "février": 2,
    "fevrier": 2,
    "mars": 3,
    "avril": 4,
    "juin": 6,
    "juillet": 7,
    "août": 8,
    "aout": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "décembre": 12,
    "decembre": 12,
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
    "mac": 3,
    "ogos": 8,
    "dis": 12,
    "okt.": 10,
    # Abbreviations printed on invoices: French, Spanish, Dutch, German
    "janv": 1,
    "févr": 2,
    "fevr": 2,
    "avr": 4,
    "juil": 7,
    "déc": 12,
    "ene": 1,
    "abr": 4,
    "ago": 8,
    "dic": 12,
    "mrt": 3,
    "mär": 3,
}
_MONTH_RE = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))

_SEP = r"[/\-.]"
NUMERIC_YMD = re.compile(
    r"(?<![\w])(?P<y>(?:19|20)\d{2})\s?(?P<s>[/\-.])\s?(?P<m>\d{1,2})(?P=s)\s?(?P<d>\d{1,2})(?![\d])"
)
NUMERIC_DMY = re.compile(
    r"(?<![\w/.\-])(?P<a>\d{1,2})\s?(?P<s>[/\-.])\s?(?P<b>\d{1,2})\s?(?P=s)\s?(?P<y>(?:19|20)\d{2}|\d{2})(?:(?!\d)|(?<=\d{4})(?=\d{1,2}:\d{2}))"
)
NAME_DMY = re.compile(
    # "12 de marzo de 2024": Spanish joins day, month and year with "de".
    rf"(?<![\w])(?P<d>\d{{1,2}})(?:st|nd|rd|th|er)?[\s\-/.,]*(?:de\s+)?(?P<mon>{_MONTH_RE})\.?[\s\-/.,]*(?:de\s+)?(?P<y>(?:19|20)\d{{2}}|\d{{2}})(?![\d])",
    re.IGNORECASE,
)
NAME_MDY = re.compile(
    rf"(?<![\w])(?P<mon>{_MONTH_RE})\.?[\s\-/.]*(?P<d>\d{{1,2}})(?:st|nd|rd|th)?[\s,\-/.]*(?P<y>(?:19|20)\d{{2}})(?![\d])",
    re.IGNORECASE,
)

# OCR glues a date to its neighbour when the gap is narrow: a time after a two-digit year
# ("23/06/1812:46:33"), a number before the day ("#19536001/06/2018"), a time after a
# year-first date ("2018-06-2312:00"); a date printed as eight digits is read only before
# a time. Read only where the split is unambiguous.
GLUED_TIME = r"(?=\d{1,2}:\d{2})"
GLUED = (
    (
        re.compile(
            rf"(?<![\w/.\-])(?P<a>\d{{1,2}})(?P<s>[/\-.])(?P<b>\d{{1,2}})(?P=s)(?P<y>\d{{2}}){GLUED_TIME}"
        ),
        "dmy",
    ),
    (
        re.compile(
            rf"(?<=\d)(?P<a>\d{{2}})(?P<s>[/\-])(?P<b>\d{{2}})(?P=s)(?P<y>(?:19|20)\d{{2}})(?:(?!\d)|{GLUED_TIME})"
        ),
        "dmy",
    ),
    (  # a slashed date after a dashed number ("#19-18/03/2018")
        re.compile(
            rf"(?<=\d-)(?P<a>\d{{2}})(?P<s>/)(?P<b>\d{{2}})(?P=s)(?P<y>(?:19|20)\d{{2}})(?:(?!\d)|{GLUED_TIME})"
        ),
        "dmy",
    ),
    (  # eight digits, day first, before a time ("25032018 13:11:54")
        re.compile(
            r"(?<![\w/.\-])(?P<a>\d{2})(?P<b>\d{2})(?P<y>(?:19|20)\d{2})(?=\s+\d{1,2}:\d{2})"
        ),
        "dmy",
    ),
    (
        re.compile(
            rf"(?<![\w])(?P<y>(?:19|20)\d{{2}})(?P<s>[/\-.])(?P<b>\d{{1,2}})(?P=s)(?P<a>\d{{2}}){GLUED_TIME}"
        ),
        "ymd",
    ),
)


@dataclass
class DateMatch:
    text: str
    date: dt.date
    start: int
    end: int
    kind: str

    @property
    def iso(self) -> str:
        return self.date.isoformat()


def _year(y: str) -> int:
    n = int(y)
    if len(y) == 2:
        n += 2000 if n < 70 else 1900
    return n


def _make(y: int, m: int, d: int) -> dt.date | None:
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


def find_dates(text: str, order: str | None = None) -> list[DateMatch]:
    """All dates in ``text`` in order of appearance (overlaps resolved left-most, longest)."""
    order = (order or config.current().date_order).upper()
    found: list[DateMatch] = []
    for m in NUMERIC_YMD.finditer(text):
        d = _make(int(m["y"]), int(m["m"]), int(m["d"]))
        if d:
            found.append(DateMatch(m.group(0), d, m.start(), m.end(), "ymd"))
    for m in NUMERIC_DMY.finditer(text):
        a, b, y = int(m["a"]), int(m["b"]), _year(m["y"])
        first, second = (a, b) if order == "DMY" else (b, a)
        d = _make(y, second, first) or _make(y, first, second)
        if d:
            found.append(DateMatch(m.group(0), d, m.start(), m.end(), "dmy"))
    for rx, kind in GLUED:
        for m in rx.finditer(text):
            a, b, y = int(m["a"]), int(m["b"]), _year(m["y"])
            if kind == "ymd":
                d = _make(y, b, a)
            else:
                first, second = (a, b) if order == "DMY" else (b, a)
                d = _make(y, second, first) or _make(y, first, second)
            if d:
                found.append(DateMatch(m.group(0), d, m.start(), m.end(), kind))
    for rx, kind in ((NAME_DMY, "name-dmy"), (NAME_MDY, "name-mdy")):
        for m in rx.finditer(text):
            mon = MONTHS.get(m["mon"].lower().rstrip("."))
            if mon:
                d = _make(_year(m["y"]), mon, int(m["d"]))
                if d:
                    found.append(DateMatch(m.group(0), d, m.start(), m.end(), kind))
    found.sort(key=lambda x: (x.start, -(x.end - x.start)))
    out: list[DateMatch] = []
    for f in found:
        if out and f.start < out[-1].end:
            continue
        out.append(f)
    return out


def parse_date(text: str, order: str | None = None) -> dt.date | None:
    found = find_dates(text, order)
    return found[0].date if found else None
