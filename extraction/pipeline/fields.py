"""Field extraction for contacts and user schemas (receipts: receipts.py; invoices: invoices.py).

Everything here is general heuristics over lines of text (with boxes when the
page has them): labels, key words, position on the page and value shapes.
Nothing is keyed to particular documents.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from . import vocab
from .dates import find_dates
from .entities import (
    AMOUNT_RE,
    currency_of,
    find_emails,
    find_phones,
    parse_number,
)
from .result import Field, Line, Page, Source

# ----------------------------------------------------------------------------- helpers


def clean(text: str) -> str:
    """NFKC (full-width brackets etc.), single spaces, stripped."""
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Row:
    """A line with its page, index and cleaned text."""

    page: Page
    index: int
    line: Line
    text: str

    @property
    def parts(self) -> list[str]:
        return [clean(p) for p in (self.line.parts or [self.line.text])]

    def source(self, text: str | None = None) -> Source:
        box = list(self.line.box) if self.line.box else None
        return Source(
            page=self.page.number,
            box=[round(v, 2) for v in box] if box else None,
            text=text or self.text,
        )


def rows_of(pages: list[Page]) -> list[Row]:
    out = []
    for page in pages:
        lines = page.lines or [Line(text=t) for t in page.text.split("\n")]
        for line in lines:
            t = clean(line.text)
            if t:
                out.append(Row(page, len(out), line, t))
    return out


def make_field(
    name, value, normalized=None, confidence=0.0, row: Row | None = None, text=None
) -> Field:
    return Field(
        name=name,
        value=value,
        normalized=normalized if normalized is not None else value,
        confidence=round(float(confidence), 3),
        source=row.source(text) if row else Source(),
    )


def _letters(s: str) -> int:
    return sum(ch.isalpha() for ch in s)


def _upper_ratio(s: str) -> float:
    letters = [c for c in s if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


# ----------------------------------------------------------------------------- receipts
# Receipt fields are chosen by the model in receipts.py; the contact rules below use
# two of its word lists (data/legal_forms.txt, data/address_words.txt).

STRONG_SUFFIX = vocab.pattern("legal_forms")
ADDRESS_WORD = vocab.pattern("address_words")


# ----------------------------------------------------------------------------- names
# Legal forms, free-mail providers and rows: shared by contacts and invoices.py.
LEGAL_FORM = re.compile(
    r"\b(S\.L\.U\.|V\.O\.F\.|B\.?V\.?|N\.?V\.?|GmbH|AG|S\.?A\.?S\.?|SAS|SARL|S\.?A\.?|S\.?L\.?|Ltd\.?|Limited|Inc\.?|LLC|LLP|PLC|"
    r"Pvt\.?\s*Ltd\.?|Private\s+Limited|Corp\.?|Corporation|Co\.|Sdn\.?\s*Bhd\.?|BVBA|SRL|S\.?p\.?A\.?|Oy|AB|ApS|"
    r"Pty\.?\s*Ltd\.?|KG|UG|e\.\s?K\.|SE|EURL)(?=[\s,.;)]|$)",
)
FREE_MAIL = {
    "gmail",
    "hotmail",
    "yahoo",
    "outlook",
    "live",
    "icloud",
    "aol",
    "gmx",
    "orange",
    "free",
    "wanadoo",
    "protonmail",
    "mail",
    "web",
    "t-online",
    "ziggo",
    "kpnmail",
}


def _all_rows(pages: list[Page], with_images: bool = True) -> list[Row]:
    rows = rows_of(pages)
    if with_images:
        for page in pages:
            for line in page.image_lines:
                t = clean(line.text)
                if t:
                    rows.append(Row(page, len(rows), line, t))
    return rows


def _strip_legal_form(name: str) -> str:
    return clean(LEGAL_FORM.sub("", name)).strip(" ,.-")


# ----------------------------------------------------------------------------- contacts

NAME_LABEL = re.compile(
    r"^(?:full\s*name|name|naam|nom|contact(?:\s*person)?)\s*[:\uff1a]\s*(?P<v>.+)$", re.I
)
COMPANY_LABEL = re.compile(
    r"^(?:company|organi[sz]ation|firm|bedrijf|société|societe|firma|employer)\s*[:\uff1a]\s*(?P<v>.+)$",
    re.I,
)
JOB_TITLE = re.compile(
    r"\b(manager|director|engineer|developer|officer|president|ceo|cto|cfo|coo|founder|partner|consultant|"
    r"sales|marketing|head|lead|assistant|specialist|analyst|designer|executive|vp|chief|owner|attorney|"
    r"accountant|advisor|adviser|architect|administrator|coordinator|representative|agent)\b",
    re.I,
)
PERSON_NAME = re.compile(
    r"^(?:(?:Dr|Mr|Mrs|Ms|Prof|Mx)\.?\s+)?[A-Z][\w'\u2019\-]+(?:\s+(?:[A-Z][\w'\u2019\-.]*|van|von|de|der|den|da|di|le|la|bin|binti)){1,3}$"
)


def contact_fields(pages: list[Page]) -> list[Field]:
    rows = _all_rows(pages)
    text = "\n".join(r.text for r in rows)
    fields: list[Field] = []

    emails = find_emails(text)
    email_row = next((r for r in rows if emails and emails[0]["text"] in r.text), None)
    phones = []
    for r in rows:
        for ph in find_phones(r.text, _contact_regions(text)):
            phones.append((ph, r))
    name_field = company_field = None
    for r in rows:
        m = NAME_LABEL.match(r.text)
        if m and not name_field:
            name_field = make_field("name", m["v"], m["v"], 0.9, r)
        m = COMPANY_LABEL.match(r.text)
        if m and not company_field:
            company_field = make_field("company", m["v"], _strip_legal_form(m["v"]), 0.9, r)
    if not company_field:
        for r in rows:
            if (
                (LEGAL_FORM.search(r.text) or STRONG_SUFFIX.search(r.text))
                and len(r.text) <= 60
                and "@" not in r.text
            ):
                company_field = make_field("company", r.text, _strip_legal_form(r.text), 0.7, r)
                break
    if not name_field:
        for r in rows[:12]:
            t = r.text
            if (
                PERSON_NAME.match(t)
                and not JOB_TITLE.search(t)
                and not LEGAL_FORM.search(t)
                and not STRONG_SUFFIX.search(t)
                and not ADDRESS_WORD.search(t)
                and not (company_field and t == company_field.value)
            ):
                name_field = make_field("name", t, t, 0.6, r)
                break
    if not name_field and emails:
        local = emails[0]["value"].split("@")[0]
        parts = [p for p in re.split(r"[._-]", local) if p.isalpha() and len(p) > 1]
        if len(parts) >= 2:
            guess = " ".join(p.capitalize() for p in parts[:3])
            name_field = make_field("name", guess, guess, 0.3, email_row)
    if not company_field and emails:
        domain = emails[0]["value"].split("@")[1].split(".")[0]
        if domain.lower() not in FREE_MAIL:
            company_field = make_field(
                "company", domain.capitalize(), domain.capitalize(), 0.3, email_row
            )

    fields.append(name_field or make_field("name", None))
    fields.append(
        make_field("email", emails[0]["text"], emails[0]["value"], 0.95, email_row)
        if emails
        else make_field("email", None)
    )
    if phones:
        ph, r = phones[0]
        fields.append(make_field("phone", ph["text"], ph["value"], 0.9, r))
    else:
        fields.append(make_field("phone", None))
    fields.append(company_field or make_field("company", None))
    return fields


def _contact_regions(text: str) -> list[str]:
    from .entities import phone_regions

    return phone_regions()


# ----------------------------------------------------------------------------- generic / schema


def generic_fields(pages: list[Page]) -> list[Field]:
    """Generic documents carry entities and key-values only (plus schema fields)."""
    return []


def _label_words(name: str, hint: str | None) -> list[str]:
    labels = [re.sub(r"[_\-]+", " ", name).strip()]
    if hint:
        labels += [h.strip() for h in re.split(r"[,;/|]", hint) if h.strip()]
    return [ln for ln in labels if ln]


def _coerce(kind: str, raw: str) -> tuple[object, object] | None:
    raw = raw.strip()
    if not raw:
        return None
    if kind == "number":
        m = re.search(r"-?\d[\d.,\s']*", raw)
        if not m:
            return None
        v = parse_number(m.group(0))
        return (m.group(0).strip(), str(v)) if v is not None else None
    if kind == "money":
        found = list(AMOUNT_RE.finditer(raw))
        if found:
            a = found[0]
            v = parse_number(a["num"])
            cur = a["cur1"] or a["cur2"]
            return (
                a.group(0).strip(),
                {"amount": str(v), "currency": currency_of(cur) if cur else None},
            )
        return _coerce("number", raw)
    if kind == "date":
        d = find_dates(raw)
        return (d[0].text, d[0].iso) if d else None
    if kind == "email":
        e = find_emails(raw)
        return (e[0]["text"], e[0]["value"]) if e else None
    if kind == "phone":
        p = find_phones(raw)
        return (p[0]["text"], p[0]["value"]) if p else None
    return (raw, raw)


def schema_fields(pages: list[Page], schema: list[dict], fields: list[Field]) -> list[Field]:
    """Add one field per schema entry, found by its name/hint as a label, else by type."""
    rows = _all_rows(pages)
    existing = {f.name: f for f in fields}
    out = list(fields)
    for spec in schema:
        name = str(spec.get("name") or "").strip()
        if not name:
            continue
        kind = str(spec.get("type") or "text").lower()
        hint = spec.get("hint")
        if name in existing and existing[name].value is not None:
            continue
        found: Field | None = None
        for label in _label_words(name, hint):
            rx = re.compile(rf"(?<!\w){re.escape(label)}(?!\w)\s*[:\uff1a#.\-]?\s*", re.I)
            for r in rows:
                m = rx.search(r.text)
                if not m:
                    continue
                rest = r.text[m.end() :]
                got = _coerce(kind, rest) if rest.strip() else None
                src_row = r
                if got is None and r.index + 1 < len(rows):
                    nxt = rows[r.index + 1]
                    got = _coerce(kind, nxt.text)
                    src_row = nxt
                if got is not None:
                    found = make_field(name, got[0], got[1], 0.7, src_row)
                    break
            if found:
                break
        if found is None and kind in ("email", "phone", "date", "money"):
            for r in rows:
                got = (
                    _coerce(kind, r.text)
                    if kind != "money"
                    else (_coerce(kind, r.text) if AMOUNT_RE.search(r.text) else None)
                )
                if got is not None:
                    found = make_field(name, got[0], got[1], 0.4, r)
                    break
        if name in existing:
            out = [f for f in out if f.name != name]
        out.append(found or make_field(name, None))
    return out


# ----------------------------------------------------------------------------- classification

RECEIPT_CUES = re.compile(
    r"\b(cash|change|rounding|receipt|thank\s*you|cashier|qty|subtotal|sub\s*total|gst|sst|tax\s*invoice|"
    r"sdn\.?\s*bhd|tender|visa|mastercard|member|counter|table|items?)\b",
    re.I,
)
INVOICE_CUES = re.compile(
    r"(invoice\s*(number|no|#|date)|bill\s*to|due\s*date|payment\s*terms|iban|bic|swift|vat\s*(no|number|reg)|"
    r"factuur|facture|rechnung|fattura|factura|btw|tva|ust|kvk|siret|purchase\s*order|\bP\.?O\.?\b)",
    re.I,
)


def detect_doc_type(pages: list[Page]) -> str:
    rows = _all_rows(pages, with_images=False)
    text = "\n".join(r.text for r in rows)
    if not text.strip():
        return "generic"
    receipt = len(RECEIPT_CUES.findall(text))
    invoice = 2 * len(INVOICE_CUES.findall(text))
    from .invoices import label  # invoices.py builds on this module: import when used

    has_total = bool(
        re.search(r"\btotal\b|\btotaal\b|\bsumme\b|\bmontant\b", text, re.I)
        or label("invoice_total_labels").search(text)  # "Te betalen", "Gesamtbetrag"
    )
    ocr = any(p.method == "ocr" for p in pages)
    if has_total and (receipt >= 3 or invoice >= 2):
        if ocr and receipt >= invoice:
            return "receipt"
        return "invoice" if invoice >= receipt or not ocr else "receipt"
    n_lines = len(rows)
    if n_lines <= 25 and (find_emails(text) or find_phones(text)) and not has_total:
        return "contact"
    return "generic"
