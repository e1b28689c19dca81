"""Receipt fields (company, address, date, total) chosen by a model fitted on data.

The page gives the candidates: every line (for the company name and the address), every
date the date parser finds, every amount. A gradient-boosted model (LightGBM, fitted by
``manage.py extraction_train`` on the ICDAR 2019 SROIE training receipts, see the README)
scores them from layout and text features: position and size on the page, the
neighbouring lines, character classes, label words nearby (word lists in ``data/*.txt``)
and line order. Deterministic code stays where the format is fixed: reading dates and
amounts, registration numbers, and the check of a total against tender minus change.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from . import config, vocab
from .dates import DateMatch, find_dates
from .entities import parse_number
from .fields import Row, clean, make_field, rows_of
from .result import Field, Page

MODEL_DIR = Path(__file__).resolve().parent / "data" / "receipt_model"
MODEL_FILES = ("lines.txt", "dates.txt", "totals.json", "meta.json")
LINE_CLASSES = ("other", "company", "address")

# ----------------------------------------------------------------------------- formats

MONEY_TOKEN = re.compile(
    r"(?<![\d,])(?<!\d\.)(?P<sym>\$|RM\s?)?(?P<num>-?\d{1,3}(?:,\d{3})*[.,]\d{2}|-?\d+[.,]\d{2})(?![\d%])",
    re.IGNORECASE,
)
POSTCODE = re.compile(r"(?<!\d)\d{5}(?!\d)")
TIME = re.compile(r"(?<!\d)\d{1,2}:\d{2}(?::\d{2})?(?!\d)")
PHONE_LIKE = re.compile(r"(?<!\d)(?:\+?6?0\d{1,2}|\d{2,4})[\s-]?\d{3,4}[\s-]?\d{3,4}(?!\d)")
# Company registration numbers as printed after or under a name: "(81109-A)", "002693074-K",
# "CO.REG: 1234-X", "(ROC NO. 12345)".
REG_NO = re.compile(
    r"^[\(\[]?\s*(?:(?:CO\.?\s*)?(?:REG|ROC|CO|COMPANY|BUSINESS)[\w\s.]*(?:NO)?\.?\s*[:.]?\s*)?"
    r"[A-Z]{0,3}\s*\d[\d\s]{3,}[-\s]?[A-Z]?\s*[\)\]]?$",
    re.I,
)
REG_SUFFIX = re.compile(
    r"\s*[\(\[]?\s*(?:CO[\s.\-]*(?:R\w?G|NO)\b|ROC\b|REG\b|COMPANY\s*(?:NO|REG))[^)\]]*[\)\]]?\s*$"
    r"|\s*[\(\[]?\s*[A-Z]{0,3}\d{5,}[-\s·.]?[A-Z]?\s*[\)\]]?\s*$",
    re.I,
)
ROUNDING = Decimal("0.02")  # cash rounding to the nearest 0.05 moves a total by at most this
REG_TAIL = re.compile(r"\s*[\(\[]?\s*\d{4,}[-\s.]?[A-Z]\s*[\)\]]?(?:\s*\([A-Z]{2,4}\))?\s*$")


def money_tokens(text: str) -> list[re.Match]:
    return list(MONEY_TOKEN.finditer(text))


def amount_value(tok: re.Match) -> Decimal | None:
    """The signed value of a money token ("-0.02", "- 0.02", "12,50")."""
    num = tok["num"]
    value = parse_number(num.lstrip("-").replace(",", ".") if num.count(",") == 1 else num)
    if value is not None and (
        num.startswith("-") or re.search(r"-\s*(RM|\$|MYR)?\s*$", tok.string[: tok.start()])
    ):
        value = -value
    return value


def printed_amount(tok: re.Match) -> str:
    """The amount as printed; a currency sign glued to it ("RM8.60", "$7.10") is part of
    how it is printed, one set apart ("RM 8.60") is a column label."""
    num = tok["num"].replace(",", ".") if re.fullmatch(r"-?\d+,\d{2}", tok["num"]) else tok["num"]
    sym = tok["sym"] or ""
    return sym.upper() + num if sym and not sym[-1].isspace() else num


def printed_spacing(text: str) -> str:
    """Spaces a printed name or address has and OCR tends to drop: around a bracketed
    part, after "SDN.", after a run of initials, between a postcode and a town."""
    text = re.sub(r"(?<=[A-Za-z0-9.])\((?=[A-Za-z0-9#])", " (", text)
    text = re.sub(r"\)(?=[A-Za-z0-9])", ") ", text)
    text = re.sub(r"\b(SDN)\.(?=BHD\b)", r"\1. ", text, flags=re.I)
    text = re.sub(r"(?<![\w.])((?:[A-Z]\.){2,})(?=[A-Z]{2,})", r"\1 ", text)
    # The town may be printed in mixed case ("52200Kuala"), which OCR keeps.
    text = re.sub(r"(?<![\d\-])(\d{5})(?=[A-Z][A-Za-z]+\b)", r"\1 ", text)
    return text


def clean_company(text: str) -> str:
    """A name without its registration number, label or stray OCR dashes."""
    text = clean(text.replace("_", " "))
    labelled = re.match(r"^[A-Za-z .]{2,20}:\s*(?P<rest>.+)$", text)
    if labelled and vocab.count("legal_forms", labelled["rest"]):
        text = labelled["rest"]
    # Registration numbers have a fixed form: digits and a check letter, in brackets or
    # not, sometimes with the company's initials after them ("123456-U (ABC)").
    text = REG_SUFFIX.sub("", text.rstrip(" ,;:'`"))
    text = REG_TAIL.sub("", text).rstrip("'`")
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    # A dash glued to the legal form, or left dangling between two words, is a speck.
    text = re.sub(r"\s*-\s*(?=(?:SDN|BHD|BERHAD|CO\.|\(M\))(?!\w))", " ", text, flags=re.I)
    text = re.sub(r"(?<=[A-Za-z])- (?=[A-Za-z])", " ", text)
    return printed_spacing(text).strip(" ,;:-")


def _glued_word(m: re.Match) -> str:
    """A street or place word OCR glued to the next word ("JALANAIR", "KUALALUMPUR")."""
    token = m[0]
    upper = token.upper()
    for word in _address_prefixes():
        rest = upper[len(word) :]
        if upper.startswith(word) and len(rest) >= 3:
            return token[: len(word)] + " " + token[len(word) :]
    return token


def _misread_word(m: re.Match) -> str:
    """A street or place word with an L read as I ("JAIAN", "AIAM"): OCR confuses the
    two on small print, and the list says which word was printed."""
    token = m[0]
    # Short words stay: the keys copy "JIN" and "KI" as printed.
    if len(token) < 4 or token.upper() in _address_words():
        return token
    fixed = token.replace("I", "L").replace("i", "l")
    return fixed if fixed.upper() in _address_words() else token


def _address_names() -> list[str]:
    return vocab.words("address_words") + vocab.words("place_words")


@cache
def _address_words() -> frozenset[str]:
    return frozenset(w for name in _address_names() for w in name.split() if w.isalpha())


@cache
def _address_prefixes() -> tuple[str, ...]:
    return tuple(w for w in _address_names() if len(w) >= 4 and w.isalpha())


def commas_spaced(rows: list[Row]) -> bool:
    """Whether this page prints a space after its commas ("NO 5, JALAN") more often than
    not. OCR drops the space after a small comma now and then; a page that prints ",X"
    throughout is read ",X" throughout."""
    text = "\n".join(r.text for r in rows)  # a comma ending a row says nothing
    spaced = len(re.findall(r"\w, \w", text))
    return spaced > len(re.findall(r"\w,\w", text)) - 1 and spaced > 0


def clean_address(text: str, spaced_commas: bool = False) -> str:
    """An address as printed: the rows joined, a trailing phone or label cut off, words
    OCR glued together split again ("NO290", "JALANAIR"), and a comma given the space
    the page's other commas have."""
    text = clean(text)
    if spaced_commas:
        text = re.sub(
            r"(?<=[A-Za-z0-9]),(?=[A-Za-z])|(?<=\w),(?=\d{5}\b)|(?<=[A-Za-z]),(?=\d)", ", ", text
        )
    stop = vocab.pattern("contact_labels").search(text)
    if stop and stop.start() > 0:
        text = text[: stop.start()]
    text = re.sub(r"(?<=\w)\.,", ",", text)  # a speck before a comma
    # A period between two parts of an address is, more often than not, a comma that was
    # printed small: on the training receipts, before a word the keys have "," for it 24
    # times against 10 (transcripts) and 9 against 2 (OCR); before a number 7 against 5
    # and 1 against 1. Initials and short abbreviations ("P.T.", "NO.", "KG.") keep theirs.
    text = re.sub(r"(?<![\w.])(\d[\w/-]*|[A-Za-z]{4,})\.(?= [A-Za-z0-9])", r"\1,", text)
    text = re.sub(r"\b(NO)(?=\d)", r"\1 ", text, flags=re.I)
    text = re.sub(r"(?<![A-Za-z])[A-Za-z]{7,}(?![A-Za-z])", _glued_word, text)
    text = re.sub(r"(?<![A-Za-z])[A-Za-z]*[Ii][A-Za-z]*(?![A-Za-z])", _misread_word, text)
    # A letter O inside a number ("29O") is a zero.
    text = re.sub(r"(?<![A-Za-z])\d+O\d*(?![A-Za-z])", lambda m: m[0].replace("O", "0"), text)
    return printed_spacing(text).strip(" ;:-")


# ----------------------------------------------------------------------------- features

VOCABS = (
    "legal_forms",
    "business_words",
    "address_words",
    "place_words",
    "header_words",
    "contact_labels",
    "registration_labels",
    "document_labels",
    "date_labels",
    "total_labels",
    "subtotal_labels",
    "tax_labels",
    "tender_labels",
    "change_labels",
    "rounding_labels",
)
NEIGHBOUR_KEYS = (
    "legal_forms",
    "business_words",
    "address_words",
    "place_words",
    "header_words",
    "contact_labels",
    "registration_labels",
    "postcode",
    "reg_no",
    "frac_digit",
    "frac_alpha",
    "height",
    "chars",
    "x_mid",
    "has_date",
    "money",
    "gap_above",
)


LINE_PITCH = 1.4  # line pitch in line heights, for pages without boxes


@dataclass
class Geometry:
    """Page size and the median line height, to put every box on one scale."""

    width: float
    height: float
    line_height: float
    longest: int = 1  # characters in the longest line (for pages without boxes)

    @classmethod
    def of(cls, rows: list[Row]) -> Geometry:
        boxes = [r.line.box for r in rows if r.line.box]
        if not boxes:
            longest = max((len(r.text) for r in rows), default=1)
            return cls(1.0, LINE_PITCH * len(rows) + 1.0, 1.0, longest)
        page = rows[0].page
        width = page.width or max(b[2] for b in boxes)
        height = page.height or max(b[3] for b in boxes)
        line_height = statistics.median(max(1.0, b[3] - b[1]) for b in boxes)
        return cls(float(width), float(height), float(line_height))

    def box(self, row: Row, position: int) -> tuple[float, float, float, float]:
        if row.line.box:
            return row.line.box
        # Plain text has no boxes: lay it out as a printed receipt would be, one line
        # under the other, left-aligned, as wide as its characters.
        top = LINE_PITCH * position
        return (0.05, top, 0.05 + 0.9 * len(row.text) / self.longest, top + 1.0)


def _ratio(n: int, d: int) -> float:
    return n / d if d else 0.0


def row_basics(row: Row, position: int, count: int, geo: Geometry) -> dict[str, float]:
    """Layout and text features of one line on its own."""
    t = row.text
    x0, y0, x1, y1 = geo.box(row, position)
    letters = [c for c in t if c.isalpha()]
    features = {
        "y_top": y0 / geo.height,
        "y_mid": (y0 + y1) / 2 / geo.height,
        "x0": x0 / geo.width,
        "x1": x1 / geo.width,
        "x_mid": (x0 + x1) / 2 / geo.width,
        "width": (x1 - x0) / geo.width,
        "height": (y1 - y0) / geo.line_height,
        "index": float(position),
        "index_frac": position / max(1, count - 1),
        "index_from_end": float(count - 1 - position),
        "chars": float(len(t)),
        "words": float(len(t.split())),
        "frac_alpha": _ratio(len(letters), len(t)),
        "frac_digit": _ratio(sum(c.isdigit() for c in t), len(t)),
        "frac_upper": _ratio(sum(c.isupper() for c in letters), len(letters)),
        "frac_punct": _ratio(sum(not c.isalnum() and not c.isspace() for c in t), len(t)),
        "starts_digit": float(t[:1].isdigit()),
        "ends_comma": float(t.endswith(",")),
        "ends_period": float(t.endswith(".")),
        "colon": float(":" in t),
        "paren": float("(" in t or ")" in t),
        "ampersand": float("&" in t),
        "digit_runs": float(len(re.findall(r"\d+", t))),
        "longest_digits": float(max((len(d) for d in re.findall(r"\d+", t)), default=0)),
        "postcode": float(bool(POSTCODE.search(t))),
        "has_date": float(bool(find_dates(t))),
        "has_time": float(bool(TIME.search(t))),
        "money": float(len(money_tokens(t))),
        "web": float(bool(re.search(r"@|www\.|\.com\b|http", t, re.I))),
        "phone": float(bool(PHONE_LIKE.search(t))),
        "reg_no": float(bool(REG_NO.match(t) or REG_SUFFIX.search(t))),
        "score": float(row.line.score),
        "parts": float(len(row.line.parts or [t])),
    }
    for name in VOCABS:
        features[name] = float(vocab.count(name, t))
    return features


def line_features(rows: list[Row]) -> list[dict[str, float]]:
    """Features of every line: its own, its neighbours' and what lies above it."""
    geo = Geometry.of(rows)
    basics = [row_basics(r, i, len(rows), geo) for i, r in enumerate(rows)]
    for i, b in enumerate(basics):
        above = basics[i - 1] if i else None
        b["gap_above"] = (
            (b["y_top"] - above["y_top"]) * geo.height / geo.line_height if above else 0
        )
    heights = sorted((b["height"] for b in basics[:10]), reverse=True)
    out = []
    seen = dict.fromkeys(("legal_forms", "postcode", "contact_labels", "registration_labels"), 0.0)
    seen["has_date"] = seen["money"] = 0.0
    for i, b in enumerate(basics):
        f = dict(b)
        for offset, tag in ((-2, "p2"), (-1, "p1"), (1, "n1"), (2, "n2")):
            j = i + offset
            other = basics[j] if 0 <= j < len(basics) else None
            for key in NEIGHBOUR_KEYS:
                f[f"{tag}_{key}"] = other[key] if other else -1.0
        for key, value in seen.items():
            f[f"above_{key}"] = value
        f["height_rank_top10"] = float(heights.index(b["height"])) if i < 10 else 10.0
        out.append(f)
        for key in seen:
            seen[key] += 1.0 if b[key] else 0.0
    return out


def date_candidates(rows: list[Row], lines: list[dict[str, float]]) -> list[tuple]:
    """Every date the parser finds, with features: ``(row, match, features)``."""
    found = [(i, m) for i, r in enumerate(rows) for m in find_dates(r.text)]
    out = []
    for k, (i, m) in enumerate(found):
        r, line = rows[i], lines[i]
        before, after = r.text[: m.start], r.text[m.end :]
        prev_text = rows[i - 1].text if i else ""
        f = {key: line[key] for key in ("y_mid", "x_mid", "index_frac", "height", "chars")}
        f |= {
            "kind_numeric": float(m.kind in ("dmy", "ymd")),
            "kind_ymd": float(m.kind == "ymd"),
            "short_year": float(bool(re.search(r"[/\-.]\d{2}$", m.text))),
            "label_before": float(vocab.count("date_labels", before)),
            "label_prev_row": float(vocab.count("date_labels", prev_text)),
            "other_date_label": float(bool(vocab.count("other_date_labels", r.text))),
            "time_in_row": float(bool(TIME.search(r.text))),
            "time_after": float(bool(re.match(r"\s*\d{1,2}[:.]\d{2}", after))),
            "start_frac": m.start / max(1, len(r.text)),
            "candidate_index": float(k),
            "candidates": float(len(found)),
            "same_date_count": float(sum(o.date == m.date for _, o in found)),
        }
        out.append((r, m, f))
    return out


def total_candidates(rows: list[Row], lines: list[dict[str, float]]) -> list[tuple]:
    """Every amount on the page, with features: ``(row, token, value, features)``."""
    found = []
    for i, r in enumerate(rows):
        for tok in money_tokens(r.text):
            value = amount_value(tok)
            if value is not None:
                found.append((i, tok, value))
    values = sorted({v for _, _, v in found}, reverse=True)
    paid = paid_amount(rows)
    summary_at = next(
        (i for i, r in enumerate(rows) if re.search(r"SUMMARY|ANALYSIS", r.text, re.I)), None
    )
    out = []
    for k, (i, tok, value) in enumerate(found):
        r, line = rows[i], lines[i]
        label = r.text[: tok.start()]
        on_row = money_tokens(r.text)
        f = {
            key: line[key]
            for key in ("y_mid", "x_mid", "index_frac", "index_from_end", "height", "frac_alpha")
        }
        for name in (
            "total_labels",
            "subtotal_labels",
            "tax_labels",
            "tender_labels",
            "change_labels",
            "rounding_labels",
            "document_labels",
        ):
            f[f"label_{name}"] = float(vocab.count(name, label))
            f[f"prev_{name}"] = float(vocab.count(name, rows[i - 1].text)) if i else -1.0
        f |= {
            "value_log": math.log10(1 + abs(float(value))),
            "negative": float(value < 0),
            "value_rank": float(values.index(value)),
            "is_max": float(value == values[0]),
            "same_value_count": float(sum(v == value for _, _, v in found)),
            "same_value_below": float(sum(v == value and j > i for j, _, v in found)),
            "last_on_row": float(tok is on_row[-1] or tok.end() == on_row[-1].end()),
            "tokens_on_row": float(len(on_row)),
            "currency_prefix": float(bool(tok["sym"])),
            "token_x": tok.start() / max(1, len(r.text)),
            "candidate_frac": k / max(1, len(found) - 1),
            "in_summary": float(summary_at is not None and i > summary_at),
            "equals_paid": float(paid is not None and paid[0] == value),
            "near_paid": float(paid is not None and abs(paid[0] - value) < 1),
            "letters_on_row": float(sum(c.isalpha() for c in r.text)),
        }
        out.append((r, tok, value, f))
    return out


# ----------------------------------------------------------------------------- tender - change


def _amount_after(rows: list[Row], i: int, label_end: int) -> tuple[re.Match | None, Row]:
    r = rows[i]
    tokens = [m for m in money_tokens(r.text) if m.start() >= label_end]
    if tokens:
        return tokens[-1], r
    # The value printed on the next row, when that row is not another label.
    if i + 1 < len(rows) and not re.search(r"[A-Za-z]{4,}", rows[i + 1].text):
        tokens = money_tokens(rows[i + 1].text)
        if tokens:
            return tokens[-1], rows[i + 1]
    return None, r


def _label_at_start(name: str, text: str) -> re.Match | None:
    m = vocab.pattern(name).search(text)
    return m if m and not re.search(r"[A-Za-z0-9]", text[: m.start()]) else None


def paid_amount(rows: list[Row], after: int = 0) -> tuple[Decimal, Row] | None:
    """What was paid, from a tender row and the change row under it ("CASH 50.00" /
    "CHANGE 7.30" → 42.70); ``None`` when either is missing."""
    for i in range(after, len(rows)):
        text = rows[i].text
        label = _label_at_start("tender_labels", text)
        if not label or _label_at_start("change_labels", text):
            continue
        tendered, tender_row = _amount_after(rows, i, label.end())
        if tendered is None:  # "CASH" as the sale type in the header
            continue
        for j in range(i + 1, min(len(rows), i + 4)):
            m = _label_at_start("change_labels", rows[j].text)
            if m:
                change, _ = _amount_after(rows, j, m.end())
                t = amount_value(tendered)
                ch = amount_value(change) if change else None
                if t is None or ch is None or ch < 0 or t - ch <= 0:
                    return None
                return t - ch, tender_row
        return None
    return None


# ----------------------------------------------------------------------------- the model


@dataclass
class LinearScorer:
    """A logistic regression over standardised features (the totals model: on stores left
    out of training it picked the total better than boosted trees, which learn a store's
    layout too well)."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float

    def predict(self, x):
        import numpy as np

        z = ((x - np.array(self.mean)) / np.array(self.scale)) @ np.array(self.coef)
        return 1.0 / (1.0 + np.exp(-(z + self.intercept)))

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=0) + "\n"


@dataclass
class ReceiptModel:
    """Boosters for lines and dates, a linear scorer for totals, and the feature order
    each was fitted with."""

    lines: Any
    dates: Any
    totals: Any
    meta: dict

    @classmethod
    def load(cls, directory: Path) -> ReceiptModel:
        import lightgbm

        def booster(name: str):
            return lightgbm.Booster(model_str=(directory / name).read_text(encoding="utf-8"))

        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
        totals = LinearScorer(**json.loads((directory / "totals.json").read_text("utf-8")))
        return cls(booster("lines.txt"), booster("dates.txt"), totals, meta)

    def _matrix(self, kind: str, rows: list[dict[str, float]]):
        import numpy as np

        names = self.meta["features"][kind]
        return np.array([[f.get(n, 0.0) for n in names] for f in rows], dtype=np.float64)

    def line_probabilities(self, features: list[dict[str, float]]) -> list[list[float]]:
        if not features:
            return []
        return self.lines.predict(self._matrix("lines", features)).tolist()

    def scores(self, kind: str, features: list[dict[str, float]]) -> list[float]:
        if not features:
            return []
        booster = self.dates if kind == "dates" else self.totals
        return booster.predict(self._matrix(kind, features)).tolist()


_model_cache: dict[str, ReceiptModel] = {}
_model_lock = threading.Lock()


def model_dir() -> Path:
    """Where the model is read: ``EXTRACTION_MODEL_DIR`` when it holds a fitted model
    (``manage.py extraction_train`` writes one there), else the model shipped here."""
    configured = config.current().model_dir
    if configured and all((configured / f).is_file() for f in MODEL_FILES):
        return configured
    return MODEL_DIR


def load_model(directory: Path | None = None) -> ReceiptModel:
    directory = directory or model_dir()
    stamp = str(directory) + ":" + str((directory / "meta.json").stat().st_mtime_ns)
    with _model_lock:
        if stamp not in _model_cache:
            _model_cache[stamp] = ReceiptModel.load(directory)
        return _model_cache[stamp]


# ----------------------------------------------------------------------------- decisions


def _span(probs: list[float], threshold: float, limit: int) -> list[int]:
    """The most likely line and its neighbours above and below that pass ``threshold``."""
    if not probs:
        return []
    best = max(range(len(probs)), key=lambda i: probs[i])
    span = [best]
    while span[0] > 0 and probs[span[0] - 1] >= threshold and len(span) < limit:
        span.insert(0, span[0] - 1)
    while span[-1] + 1 < len(probs) and probs[span[-1] + 1] >= threshold and len(span) < limit:
        span.append(span[-1] + 1)
    return span


# A house, lot or floor number opens an address; a postcode ("47200 SUBANG") does not.
HOUSE_NUMBER = re.compile(r"^\s*(?:(?!\d{5}\b)\d|(?:NO|LOT|LEVEL|BLK|BLOCK|UNIT)\b)", re.I)


def _address_start(rows: list[Row], span: list[int]) -> list[int]:
    """An address starts at its number: a line without digits above a line that starts
    with one ("NO 2A", "4-20,", "LEVEL 6") is the branch's name, not its address."""
    if (
        len(span) > 1
        and not re.search(r"\d", rows[span[0]].text)
        and HOUSE_NUMBER.match(rows[span[1]].text)
    ):
        return span[1:]
    return span


def _span_field(name: str, rows: list[Row], span: list[int], text: str, conf: float) -> Field:
    field = make_field(name, text, text.upper(), conf, rows[span[0]], text)
    boxes = [rows[i].line.box for i in span if rows[i].line.box]
    if boxes:
        field.source.box = [
            round(min(b[0] for b in boxes), 2),
            round(min(b[1] for b in boxes), 2),
            round(max(b[2] for b in boxes), 2),
            round(max(b[3] for b in boxes), 2),
        ]
    return field


def _date_printed(m: DateMatch) -> str:
    if m.kind in ("ymd", "dmy"):
        return re.sub(r"\s+", "", m.text)
    return clean(m.text)


def decide(rows: list[Row], model: ReceiptModel) -> dict[str, Field]:
    """The four receipt fields from the model's scores over the page's candidates."""
    lines = line_features(rows)
    probs = model.line_probabilities(lines)
    thresholds = model.meta.get("thresholds", {})
    fields: dict[str, Field] = {}

    company_p = [p[1] for p in probs]
    span = _span(company_p, thresholds.get("company", 0.5), 4)
    if span and company_p[span[0]] >= 0.05:
        text = clean_company(" ".join(rows[i].text for i in span))
        conf = max(company_p[i] for i in span)
        fields["company"] = _span_field("company", rows, span, text, conf) if text else None

    address_p = [p[2] for p in probs]
    span = _span(address_p, thresholds.get("address", 0.5), 6)
    span = _address_start(rows, span)
    if span and address_p[span[0]] >= 0.05:
        text = clean_address(" ".join(rows[i].text for i in span), commas_spaced(rows))
        conf = statistics.fmean(address_p[i] for i in span)
        fields["address"] = _span_field("address", rows, span, text, conf) if text else None

    dates = date_candidates(rows, lines)
    if dates:
        scores = model.scores("dates", [f for _, _, f in dates])
        k = max(range(len(dates)), key=lambda i: scores[i])
        r, m, _ = dates[k]
        fields["date"] = make_field("date", _date_printed(m), m.iso, scores[k], r, r.text)

    totals = total_candidates(rows, lines)
    if totals:
        scores = model.scores("totals", [f for *_, f in totals])
        k = max(range(len(totals)), key=lambda i: scores[i])
        r, tok, value, _ = totals[k]
        printed = printed_amount(tok)
        paid = paid_amount(rows, rows.index(r))
        if paid is not None and ROUNDING < abs(paid[0] - value) < 1:
            # Tender minus change settles what was paid when the total was read one digit
            # off. A difference within the cash rounding (to 0.05) is not a misreading: the
            # receipt's total is the amount before rounding.
            value, printed, r = paid[0], f"{paid[0]:.2f}", paid[1]
        fields["total"] = make_field("total", printed, str(value), scores[k], r, r.text)
    return {k: v for k, v in fields.items() if v is not None}


def receipt_fields(pages: list[Page], model: ReceiptModel | None = None) -> list[Field]:
    rows = rows_of(pages)
    found = decide(rows, model or load_model()) if rows else {}
    return [found.get(name) or make_field(name, None) for name in LINE_FIELDS]


LINE_FIELDS = ("company", "address", "date", "total")
