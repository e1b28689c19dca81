"""Invoice fields: issuer, invoice number, date, amount and currency.

Each field is chosen among candidates found next to labels: a label and its value on
one line ("Rechnungsnr. 30064443"), or a label heading a column and the value in the
cell below it.  The label vocabularies are data files (``data/invoice_*.txt``, one
word or phrase a line, English, German, French, Dutch and Spanish at least), so a new
language or wording is a line in a file, not a change of code.

Why rules and not a fitted model (as receipts have): there is no invoice training data
in the project's reach, and a model fitted on invoices we generate ourselves would learn
the generator, that is these same preferences written a second time, with none of the
transparency.  The preferences are few and ordinal: an invoice-specific label beats a
generic one, a strong total label ("amount due", "Gesamtbetrag") beats a bare "total",
a named seller beats a legal-form name outside the customer's block, which beats a
brand taken from the document's own web or e-mail domain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .dates import DateMatch, find_dates
from .entities import AMOUNT_RE, EMAIL_RE, currency_of, find_urls, parse_number
from .fields import (
    FREE_MAIL,
    LEGAL_FORM,
    Row,
    _all_rows,
    _letters,
    _strip_legal_form,
    clean,
    make_field,
)
from .result import Field, Page

DATA_DIR = Path(__file__).resolve().parent / "data"


# ----------------------------------------------------------------------------- vocabularies


@cache
def vocabulary(name: str) -> tuple[str, ...]:
    """The entries of ``data/<name>.txt``, longest first (a phrase wins over its words)."""
    lines = (DATA_DIR / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    # Page text is NFKC-normalised (clean()): so are the entries ("Nº" is read "No").
    entries = {clean(ln).casefold() for ln in lines if ln.strip() and not ln.startswith("#")}
    return tuple(sorted(entries, key=lambda e: (-len(e), e)))


def _entry(entry: str, bounded: bool = True) -> str:
    """A phrase as a pattern: any spacing between its words; unless ``bounded`` is off
    (parts of a compound: "Rechnungs|nr"), never inside a longer word."""
    body = r"[\s.\-]*".join(re.escape(word) for word in entry.split())
    if not bounded:
        return body
    start = r"(?<![^\W_])" if entry[0].isalnum() else ""
    end = r"(?![^\W\d_])" if entry[-1].isalnum() else ""
    return start + body + end


def alternation(name: str, bounded: bool = True) -> str:
    return "(?:" + "|".join(_entry(e, bounded) for e in vocabulary(name)) + ")"


@cache
def label(name: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any entry of ``data/<name>.txt``."""
    return re.compile(alternation(name), re.IGNORECASE)


@cache
def number_label() -> re.Pattern[str]:
    """Number labels: "Invoice No.", "Rechnungsnr.", "Factuurnummer", "N° de facture"."""
    invoice = alternation("invoice_words", bounded=False)
    number = alternation("invoice_number_words", bounded=False)
    connector = alternation("invoice_number_connectors")
    return re.compile(
        rf"(?<![^\W_])(?:{invoice}s?[\s.:\-]*{number}|{number}\s*(?:{connector}\s+)?{invoice})"
        r"(?![^\W\d_])[\s:.#]*",
        re.IGNORECASE,
    )


@cache
def bare_invoice_label() -> re.Pattern[str]:
    """The invoice word alone, then a colon, a # or nothing: "Invoice: 2024-117",
    "Factura # F-12", or a column headed "Factuur"."""
    return re.compile(rf"^{alternation('invoice_words')}\s*(?:[:#]\s*|$)", re.IGNORECASE)


def _starts_with_label(name: str, text: str) -> re.Match | None:
    """A label that opens ``text`` and is followed by a colon or nothing ("Bill to:")."""
    m = label(name).match(text.strip())
    if m and re.match(r"\s*(?:[:\uff1a]|$)", text.strip()[m.end() :]):
        return m
    return None


# ----------------------------------------------------------------------------- rows


def _below(rows: list[Row], row: Row, part_index: int) -> tuple[str, Row] | None:
    """The text in the next rows that sits under part ``part_index`` of ``row``."""
    if not row.line.part_boxes or part_index >= len(row.line.part_boxes):
        return None
    lx0, _, lx1, _ = row.line.part_boxes[part_index]
    for nxt in rows[row.index + 1 : row.index + 3]:
        if nxt.page is not row.page or not nxt.line.part_boxes:
            continue
        best, best_overlap = None, 0.0
        for text, box in zip(nxt.parts, nxt.line.part_boxes, strict=False):
            overlap = min(lx1, box[2]) - max(lx0, box[0])
            if overlap > best_overlap:
                best, best_overlap = text, overlap
        if best:
            return best, nxt
    return None


def _next_row(rows: list[Row], row: Row) -> Row | None:
    if row.index + 1 < len(rows) and rows[row.index + 1].page is row.page:
        return rows[row.index + 1]
    return None


# ----------------------------------------------------------------------------- number


def _values_near(
    rows: list[Row], row: Row, part_index: int, pattern: re.Pattern
) -> list[tuple[str, Row]]:
    """Where the value of a label that ends its part is: the cell below it (a header
    row); for a full label also the next part of the row or, alone on its line, the
    next line.  A bare "Invoice" heading only counts for the cell below."""
    nearby = []
    below = _below(rows, row, part_index)
    if below:
        nearby.append(below)
    if pattern is number_label():
        if part_index + 1 < len(row.parts):
            nearby.insert(0, (row.parts[part_index + 1], row))
        nxt = _next_row(rows, row)
        if nxt and len(row.parts) == 1:
            nearby.append((nxt.text, nxt))
    return nearby


NUMBER_VALUE = re.compile(r"#?\s?(?=[A-Z0-9_\-/]*\d)[A-Z0-9][A-Z0-9_\-/.]{2,40}", re.I)


def _number_value(text: str) -> str | None:
    m = NUMBER_VALUE.match(text.strip())
    if not m:
        return None
    value = re.sub(r"\s+", "", m.group(0)).lstrip("#").rstrip(".")
    if not re.search(r"\d", value) or find_dates(value):
        return None
    return value


def _invoice_number(rows: list[Row]) -> Field:
    for pattern, confidence in ((number_label(), 0.9), (bare_invoice_label(), 0.7)):
        for row in rows:
            for part_index, part in enumerate(row.parts):
                for m in pattern.finditer(part):
                    rest = part[m.end() :]
                    if rest.strip():
                        value = _number_value(rest)
                        if value:
                            return make_field("invoice_number", value, value, confidence, row)
                        continue
                    for text, source in _values_near(rows, row, part_index, pattern):
                        value = _number_value(text)
                        if value:
                            return make_field(
                                "invoice_number", value, value, confidence - 0.15, source
                            )
    return make_field("invoice_number", None)


# ----------------------------------------------------------------------------- date


@dataclass(order=True)
class DateCandidate:
    score: float
    row: Row
    match: DateMatch


def _date_score(before: str) -> float:
    """How surely a date is the invoice date, from the words just before it."""
    before = before[-60:]
    strong = list(label("invoice_date_labels").finditer(before))
    generic = list(label("invoice_generic_date_labels").finditer(before))
    last = max(strong + generic, key=lambda m: m.end(), default=None)
    other = label("invoice_other_date_labels")
    if last is None:
        return -1.5 if other.search(before[-40:]) else 0.0
    score = 3.0 if last in strong else 2.0
    if other.search(before[last.end() :]) or (last not in strong and other.search(last.group(0))):
        score -= 2.5  # "Date: … Due date: 12.04.2024"
    elif last not in strong and other.search(before[max(0, last.start() - 20) : last.start()]):
        score -= 2.5  # "Due date", "Order date": a generic word after a specific one
    return score


def _invoice_date(rows: list[Row], number_row: Row | None) -> Field:
    best: DateCandidate | None = None
    for row in rows:
        for m in find_dates(row.text):
            score = _date_score(row.text[: m.start])
            if number_row is not None and row is number_row:
                score += 2.0  # "Rechnung Nr. 17 vom 12.03.2024"
            score -= row.index * 0.001  # earlier wins ties
            candidate = DateCandidate(score, row, m)
            if best is None or candidate.score > best.score:
                best = candidate
    # A date label heading a column, the date in the cell below.
    for row in rows:
        for i, part in enumerate(row.parts):
            text = part.strip().rstrip(":").strip()
            if not (
                label("invoice_date_labels").fullmatch(text)
                or label("invoice_generic_date_labels").fullmatch(text)
            ):
                continue
            below = _below(rows, row, i)
            found = find_dates(below[0]) if below else []
            if below and found and (best is None or best.score < 2.5):
                best = DateCandidate(2.5, below[1], found[0])
    if best is None:
        return make_field("date", None)
    iso = best.match.iso
    confidence = max(0.3, min(0.95, 0.6 + best.score / 10))
    return make_field("date", iso, iso, confidence, best.row)


# ----------------------------------------------------------------------------- amount


def _amount_in(text: str, start: int) -> re.Match | None:
    """The last positive amount at or after ``start``."""
    found = [a for a in AMOUNT_RE.finditer(text) if a.start() >= start]
    for a in reversed(found):
        value = parse_number(a["num"])
        if value is not None and value > 0:
            return a
    return None


def _invoice_amount(rows: list[Row]) -> tuple[Field, str | None]:
    strong, weak = label("invoice_total_labels"), label("invoice_amount_labels")
    excluded = label("invoice_amount_exclusions")
    best = None
    for row in rows:
        is_strong = strong.search(row.text)
        if excluded.search(row.text) and not is_strong:
            continue
        m = is_strong or weak.search(row.text)
        if not m:
            continue
        a, source = _amount_in(row.text, m.start()), row
        if a is None:  # the label heads a column or ends the line: the amount is below
            for i, part in enumerate(row.parts):
                if strong.search(part) or weak.search(part):
                    below = _below(rows, row, i)
                    if below and (a := _amount_in(below[0], 0)) is not None:
                        source = below[1]
                        break
        if a is None:
            continue
        value = parse_number(a["num"])
        rank = 2 if is_strong else 1
        # Strong labels: the first one (the summary); weak ones: the last (below the lines).
        key = (rank, -row.index if is_strong else row.index, value)
        if best is None or key > best[0]:
            currency = a["cur1"] or a["cur2"]
            best = (key, source, a, value, currency_of(currency) if currency else None)
    if best is None:
        return make_field("amount", None), None
    (rank, _, _), row, a, value, currency = best
    confidence = 0.9 if rank == 2 else 0.75
    return make_field("amount", a["num"], str(value), confidence, row), currency


CURRENCY_CODE = re.compile(r"\b(USD|EUR|GBP|INR|MYR|CHF|SGD|AUD|CAD|JPY|SEK|NOK|DKK|PLN)\b")


def _document_currency(rows: list[Row]) -> str | None:
    counts: dict[str, int] = {}
    for row in rows:
        for a in AMOUNT_RE.finditer(row.text):
            symbol = a["cur1"] or a["cur2"]
            code = currency_of(symbol) if symbol else None
            if code:
                counts[code] = counts.get(code, 0) + 1
        for code in CURRENCY_CODE.findall(row.text):
            counts[code] = counts.get(code, 0) + 1
        if re.search(r"US\s*Dollars?", row.text, re.I):
            counts["USD"] = counts.get("USD", 0) + 2
        if re.search(r"\bEuros?\b", row.text, re.I):
            counts["EUR"] = counts.get("EUR", 0) + 1
        if re.search(r"\bRs\.?\s*-?\d", row.text):
            counts["INR"] = counts.get("INR", 0) + 1
    return max(counts, key=counts.get) if counts else None


# ----------------------------------------------------------------------------- issuer

# Weights of the kinds of evidence for the seller's name (ordinal: a named seller beats a
# legal-form name, which beats the largest line at the top, which beats a web domain).
# A name seen only inside the customer's block keeps a quarter of its score.
NAMED_SELLER = 3.0
LEGAL_NAME = 2.0
LETTERHEAD = 1.5
DOMAIN_BRAND = 1.5
SENDER_LINE = 0.5  # "Name · Street 5 · Town", above the address or in the footer; each
RECURRENCE = 0.3  # per mention elsewhere in the text, up to six
CUSTOMER_SHARE = 0.25


@dataclass
class Zone:
    """The customer's block: rows below a "Bill to" label, in that label's column."""

    page: Page
    first: int
    last: int
    x0: float
    x1: float

    def holds(self, row: Row, box) -> bool:
        if row.page is not self.page or not self.first <= row.index <= self.last:
            return False
        return box is None or (box[0] < self.x1 and box[2] > self.x0 - 5)


def _customer_zones(rows: list[Row]) -> list[Zone]:
    zones = []
    for row in rows:
        boxes = row.line.part_boxes or [row.line.box]
        for i, part in enumerate(row.parts):
            if not _starts_with_label("invoice_recipient_labels", part):
                continue
            box = boxes[i] if i < len(boxes) else None
            x0 = box[0] if box else float("-inf")
            x1 = boxes[i + 1][0] if box and i + 1 < len(boxes) and boxes[i + 1] else float("inf")
            zones.append(Zone(row.page, row.index, row.index + 5, x0, x1))
    return zones


SENDER_SEGMENTS = re.compile(r"\s+[·•|]\s+")


class Candidates:
    def __init__(self) -> None:
        self.by_key: dict[str, dict] = {}

    def add(
        self,
        name: str,
        weight: float,
        row: Row | None,
        brand: bool = False,
        customer: bool = False,
    ) -> None:
        name = clean(name).strip(" ,;:-*|")
        if not LEGAL_FORM.search(name):
            name = name.rstrip(".")
        if not name or len(name) > 60 or _letters(name) < 2 or re.search(r"@|https?:|\d{4,}", name):
            return
        key = _strip_legal_form(name).casefold() or name.casefold()
        c = self.by_key.setdefault(
            key, {"name": name, "score": 0.0, "row": row, "brand": brand, "outside": False}
        )
        c["score"] += weight
        c["outside"] = c["outside"] or not customer
        if LEGAL_FORM.search(name) and not LEGAL_FORM.search(c["name"]):
            c["name"], c["row"] = name, row


def _name_before_legal_form(part: str, lf: re.Match) -> str | None:
    """The capitalised words in front of a legal form: "Blue Harbor Design GmbH"."""
    before = part[: lf.start()].rstrip(" ,")
    before = re.split(r"(?<=[a-z]{2}[.!?:])\s+|\s{2,}", before)[-1]
    words = re.findall(r"[\w&'.\-]+", before)
    name_words: list[str] = []
    for w in reversed(words[-5:]):
        if re.fullmatch(r"[A-Za-z0-9&'.\-]*[^\W\d_][\w&'.\-]*", w) and (
            w[0].isupper() or w[0].isdigit() or w in ("&", "-") or re.search(r"[A-Z]", w)
        ):
            name_words.insert(0, w)
        else:
            break
    if name_words and name_words[0].casefold() in ("by", "from", "and", "the", "von", "de"):
        name_words = name_words[1:]
    if not name_words:
        return None
    spans = list(re.finditer(r"[\s,]+".join(map(re.escape, name_words)), part[: lf.start()]))
    if spans:
        return part[spans[-1].start() : lf.end()]
    return " ".join(name_words) + " " + lf.group(0)


def _letterhead(rows: list[Row], pages: list[Page]) -> tuple[str, Row] | None:
    """The first text of the first page set clearly larger than the body text, unless it
    is the document's title ("INVOICE", "Rechnung")."""
    first = [r for r in rows if r.page is pages[0] and r.line.box]
    if not first:
        return None
    heights = sorted(r.line.box[3] - r.line.box[1] for r in first)
    body = heights[len(heights) // 2]
    for row in first[: max(3, len(first) // 4)]:
        boxes = row.line.part_boxes or [row.line.box]
        for text, box in zip(row.parts, boxes, strict=False):
            title = label("invoice_titles").fullmatch(text.strip(" .:#"))
            wordy = _letters(text) >= 3 and not re.search(r"\d{3,}", text)
            if box[3] - box[1] >= 1.3 * body and wordy and not title:
                return text, row
    return None


def _issuer(rows: list[Row], pages: list[Page]) -> Field:
    """Score candidate names by the kinds of evidence for them and how often they recur."""
    text = "\n".join(r.text for r in rows)
    low = text.casefold()
    zones = _customer_zones(rows)
    found = Candidates()
    for row in rows:
        boxes = row.line.part_boxes or [row.line.box] * len(row.parts)
        for i, part in enumerate(row.parts):
            for m in label("invoice_issuer_labels").finditer(part):
                if re.match(r"\s*[:\uff1a]\s*\S", part[m.end() :]):
                    value = part[m.end() :].lstrip(" :\uff1a")
                    lf = LEGAL_FORM.search(value)
                    found.add(value[: lf.end()] if lf else value, NAMED_SELLER, row)
                    break
            customer = any(z.holds(row, boxes[i] if i < len(boxes) else None) for z in zones)
            for lf in LEGAL_FORM.finditer(part):
                name = _name_before_legal_form(part, lf)
                if name:
                    found.add(name, LEGAL_NAME, row, customer=customer)
            sender = SENDER_SEGMENTS.split(part)
            if len(sender) >= 3 and not re.search(r"\d", sender[0]) and not customer:
                found.add(sender[0], SENDER_LINE, row)
    head = _letterhead(rows, pages)
    if head is not None and not any(z.holds(head[1], head[1].line.box) for z in zones):
        found.add(head[0], LETTERHEAD, head[1])
    _add_domain_brands(rows, low, text, found)
    cands = found.by_key
    for c in cands.values():
        core = _strip_legal_form(c["name"]).casefold()
        if core and len(core) >= 3 and not c["brand"]:
            mentions = len(re.findall(rf"(?<!\w){re.escape(core)}(?!\w)", low))
            c["score"] += RECURRENCE * min(6, mentions)
    # A brand that is a word of a longer name ("acme" in "Acme Tools GmbH") supports that
    # name rather than competing with it.
    for key, c in list(cands.items()):
        if c["brand"]:
            for other_key, other in cands.items():
                if other_key != key and re.search(rf"(?<!\w){re.escape(key)}(?!\w)", other_key):
                    other["score"] += c["score"]
                    cands.pop(key)
                    break
    for c in cands.values():
        if not c["outside"]:
            c["score"] *= CUSTOMER_SHARE
    if not cands:
        return make_field("issuer", None)
    best = max(cands.values(), key=lambda c: c["score"])
    confidence = min(0.9, 0.3 + best["score"] / 10)
    return make_field(
        "issuer", best["name"], _strip_legal_form(best["name"]), confidence, best["row"]
    )


def _spelled(brand: str, text: str) -> str | None:
    """How the text spells a domain's name: "Flowerpot" or, split into words,
    "Blue Harbor" for blueharbor.com; never inside an address."""
    letters = [re.escape(c) for c in brand if c.isalnum()]
    spaced = r"[\s&'\-]?".join(letters)
    for m in re.finditer(rf"(?<![\w@./-]){spaced}(?![\w.@])", text, re.I):
        in_address = re.match(r"[./@]", text[m.end() : m.end() + 1])
        if " " in m.group(0) or not in_address:
            return m.group(0)
    return None


def _add_domain_brands(rows: list[Row], low: str, text: str, found: Candidates) -> None:
    """Brands from the document's own web and e-mail domains (not free-mail providers)."""
    domains = []
    for row in rows:
        for url in find_urls(row.text):
            domains.append((re.sub(r"^https?://", "", url["value"]).split("/")[0], row))
        for email in EMAIL_RE.finditer(row.text):
            domains.append((email.group(0).split("@")[1], row))
    seen = set()
    for host, row in domains:
        parts = host.lower().split(".")
        if len(parts) < 2:
            continue
        brand = parts[-2] if parts[-2] not in ("co", "com") or len(parts) < 3 else parts[-3]
        if brand in FREE_MAIL or len(brand) < 3 or brand in seen:
            continue
        seen.add(brand)
        spelled = _spelled(brand, text)
        name = spelled or brand.capitalize()
        mentions = len(re.findall(rf"(?<![\w@./-]){re.escape(name.casefold())}(?![\w.@])", low))
        found.add(name, min(DOMAIN_BRAND, 0.5 + 0.2 * mentions), row, brand=True)


# ----------------------------------------------------------------------------- fields


def invoice_fields(pages: list[Page]) -> list[Field]:
    rows = _all_rows(pages)
    number = _invoice_number(rows)
    number_row = None
    if number.value is not None:
        number_row = next((r for r in rows if number.source.text == r.text), None)
    amount, amount_currency = _invoice_amount(rows)
    currency = amount_currency or _document_currency(rows)
    confidence = 0.8 if amount_currency else (0.5 if currency else 0.0)
    return [
        _issuer(rows, pages),
        _invoice_date(rows, number_row),
        amount,
        number,
        make_field("currency", currency, currency, confidence, None),
    ]
