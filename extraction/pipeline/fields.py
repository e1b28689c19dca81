"""Field extraction for invoices, contacts and user schemas (receipts: receipts.py).

Everything here is general heuristics over lines of text (with boxes when the
page has them): labels, key words, position on the page and value shapes.
Nothing is keyed to particular documents.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from . import vocab
from .dates import find_dates
from .entities import (
    AMOUNT_RE,
    EMAIL_RE,
    currency_of,
    find_emails,
    find_phones,
    find_urls,
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


# ----------------------------------------------------------------------------- invoices

INVOICE_WORD = r"(?:invoice|inv\.?|facture|factuur|rechnung|fattura|factura|faktura|bill|receipt)"
NUMBER_WORD = r"(?:number|nummer|numero|numéro|num\.?|no\.?|nr\.?|n°|nº|n\.|#|id)"
INVOICE_NO_LABEL = re.compile(
    rf"(?<![\w])(?:{INVOICE_WORD}\s*{NUMBER_WORD}|{INVOICE_WORD}nummer|{INVOICE_WORD}nr|{INVOICE_WORD}\s*n\s*°)\s*[:.]?\s*",
    re.I,
)
INVOICE_NO_VALUE = re.compile(r"#?\s?(?=[A-Z0-9_\-/]*\d)[A-Z0-9][A-Z0-9_\-/.]{2,40}", re.I)
INVOICE_DATE_LABEL = re.compile(
    r"(invoice\s*date|date\s*of\s*invoice|invoice\s*dated|billing\s*date|factuurdatum|factuur\s*datum|"
    r"date\s*de\s*(la\s*)?facture|date\s*facture|rechnungsdatum|datum\s*rechnung|fecha\s*de\s*factura|"
    r"data\s*fattura|\bdate\b|\bdatum\b|\bdated\b)",
    re.I,
)
OTHER_DATE_LABEL = re.compile(
    r"(due|verval|échéance|echeance|limite|fällig|order|bestel|commande|period|période|periode|from|to\b|"
    r"start|end|delivery|levering|livraison|ship|prélèvement|prelevement|paid|betaald|op\s)",
    re.I,
)
AMOUNT_LABELS = [
    (
        re.compile(
            r"(grand\s*total|total\s*amount\s*due|amount\s*due|balance\s*due|total\s*due|total\s*to\s*pay|"
            r"somme\s*à\s*payer|montant\s*à\s*payer|net\s*à\s*payer|te\s*betalen|zu\s*zahlen|"
            r"gesamtbetrag|total\s*ttc|totaal\s*incl|factuur\s*totaal|total\s*for\s*this\s*invoice|"
            r"invoice\s*total|total\s*facture|total\s*incl)",
            re.I,
        ),
        10,
    ),
    (re.compile(r"\b(totaal|total|totale|summe|amount|montant|bedrag)\b", re.I), 5),
]
AMOUNT_EXCLUDE = re.compile(
    r"(sub\s*-?\s*total|subtotaal|excl|exclusief|\bHT\b|hors\s*tax|untaxed|net\s*amount|tax\b|tva\b|"
    r"vat\b|btw\b|mwst|discount|korting|remise|credits?|shipping|verzend|grondslag)",
    re.I,
)
LEGAL_FORM = re.compile(
    r"\b(B\.?V\.?|N\.?V\.?|GmbH|AG|S\.?A\.?S\.?|SAS|SARL|S\.?A\.?|S\.?L\.?|Ltd\.?|Limited|Inc\.?|LLC|LLP|PLC|"
    r"Pvt\.?\s*Ltd\.?|Private\s+Limited|Corp\.?|Corporation|Co\.|Sdn\.?\s*Bhd\.?|BVBA|SRL|S\.?p\.?A\.?|Oy|AB|ApS|"
    r"Pty\.?\s*Ltd\.?)(?=[\s,.;)]|$)",
)
ISSUER_LABEL = re.compile(
    r"(sold\s*by|seller|vendor|supplier|issued\s*by|invoice\s*from|from|service\s*provider|"
    r"titulaire\s*du\s*compte|account\s*holder|leverancier|verkoper|verkäufer|rechnungssteller|"
    r"fournisseur|vendeur|émetteur|payee|beneficiary|begunstigde|bénéficiaire)\s*[:\uff1a]\s*(?P<v>.+)$",
    re.I,
)
RECIPIENT_LABEL = re.compile(
    r"(bill\s*to|billed\s*to|ship\s*to|shipping\s*address|billing\s*address|invoice\s*to|customer|client|"
    r"factuuradres|afleveradres|adresse\s*de\s*facturation|adresse\s*de\s*livraison|rechnungsadresse|"
    r"lieferadresse|attn|t\.a\.v\.|à\s*l'attention|abonné|klant)",
    re.I,
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


def _below(rows: list[Row], r: Row, part_index: int) -> tuple[str, Row] | None:
    """The text in the next row that sits under part ``part_index`` of row ``r``."""
    if not r.line.part_boxes or part_index >= len(r.line.part_boxes):
        return None
    lx0, _, lx1, _ = r.line.part_boxes[part_index]
    for nxt in rows[r.index + 1 : r.index + 3]:
        if nxt.page is not r.page or not nxt.line.part_boxes:
            continue
        best, best_overlap = None, 0.0
        for txt, box in zip(nxt.parts, nxt.line.part_boxes, strict=False):
            overlap = min(lx1, box[2]) - max(lx0, box[0])
            if overlap > best_overlap:
                best, best_overlap = txt, overlap
        if best:
            return best, nxt
    return None


def _invoice_number(rows: list[Row]) -> Field:
    for r in rows:
        # Label and value in one row: "Invoice No : # BLR_WF…", "Facture n°562044387 du …"
        for m in INVOICE_NO_LABEL.finditer(r.text):
            rest = r.text[m.end() :]
            v = INVOICE_NO_VALUE.match(rest)
            if v:
                value = re.sub(r"\s+", "", v.group(0)).lstrip("#").rstrip(".")
                if re.search(r"\d", value) and not find_dates(value):
                    return make_field("invoice_number", value, value, 0.9, r, r.text)
    for r in rows:
        # Label in a table header, value in the cell below: "Factuur" / "VF1005193039"
        for i, part in enumerate(r.parts):
            if re.fullmatch(
                rf"{INVOICE_WORD}\s*{NUMBER_WORD}?\s*[:.]?|{INVOICE_WORD}(nummer|nr)\.?", part, re.I
            ):
                below = _below(rows, r, i)
                if below:
                    v = INVOICE_NO_VALUE.fullmatch(below[0].strip())
                    if v and not find_dates(below[0]):
                        value = re.sub(r"\s+", "", v.group(0)).lstrip("#")
                        return make_field(
                            "invoice_number", value, value, 0.75, below[1], below[1].text
                        )
    return make_field("invoice_number", None)


def _invoice_date(rows: list[Row], number_row: Row | None) -> Field:
    best = None
    for r in rows:
        dates = find_dates(r.text)
        if not dates:
            continue
        for m in dates:
            before = r.text[: m.start]
            score = 0.0
            label = None
            for lm in INVOICE_DATE_LABEL.finditer(before):
                label = lm
            if label is not None:
                between = before[label.end() :]
                score += (
                    3.0
                    if re.search(r"invoice|factu|rechn|fattura|billing", label.group(0), re.I)
                    else 2.0
                )
                if OTHER_DATE_LABEL.search(between) or OTHER_DATE_LABEL.search(label.group(0)):
                    score -= 2.5
            elif OTHER_DATE_LABEL.search(before[-40:]):
                score -= 1.5
            if number_row is not None and r is number_row:
                score += 2.0
            score -= r.index * 0.001  # earlier wins ties
            if best is None or score > best[0]:
                best = (score, r, m)
    # Header cell above a date: "Factuur datum" / "8-9-2022"
    for r in rows:
        for i, part in enumerate(r.parts):
            if re.fullmatch(
                r"(invoice\s*date|factuur\s*datum|factuurdatum|date\s*facture|rechnungsdatum|date)\s*:?",
                part,
                re.I,
            ):
                below = _below(rows, r, i)
                if below and find_dates(below[0]):
                    m = find_dates(below[0])[0]
                    if best is None or best[0] < 2.5:
                        best = (2.5, below[1], m)
    if best is None:
        return make_field("date", None)
    score, r, m = best
    return make_field("date", m.iso, m.iso, max(0.3, min(0.95, 0.6 + score / 10)), r, r.text)


def _invoice_amount(rows: list[Row]) -> tuple[Field, str | None]:
    best = None
    for r in rows:
        if AMOUNT_EXCLUDE.search(r.text) and not AMOUNT_LABELS[0][0].search(r.text):
            continue
        for rx, prio in AMOUNT_LABELS:
            m = rx.search(r.text)
            if not m:
                continue
            found = [a for a in AMOUNT_RE.finditer(r.text) if a.start() >= m.start()]
            if not found:
                continue
            a = found[-1]
            value = parse_number(a["num"])
            if value is None or value <= 0:
                continue
            cur = a["cur1"] or a["cur2"]
            key = (prio, -r.index if prio >= 10 else r.index, value)
            if best is None or key > best[0]:
                best = (key, r, a, value, currency_of(cur) if cur else currency_of(r.text))
            break
    if best is None:
        return make_field("amount", None), None
    _, r, a, value, cur = best
    return make_field("amount", a["num"], str(value), 0.6 + best[0][0] / 30, r, r.text), cur


def _document_currency(rows: list[Row]) -> str | None:
    counts: dict[str, int] = {}
    for r in rows:
        for a in AMOUNT_RE.finditer(r.text):
            cur = a["cur1"] or a["cur2"]
            if cur:
                c = currency_of(cur)
                if c:
                    counts[c] = counts.get(c, 0) + 1
        for code in re.findall(r"\b(USD|EUR|GBP|INR|MYR|CHF|SGD|AUD|CAD|JPY)\b", r.text):
            counts[code] = counts.get(code, 0) + 1
        if re.search(r"US\s*Dollars?", r.text, re.I):
            counts["USD"] = counts.get("USD", 0) + 2
        if re.search(r"\bEuros?\b", r.text, re.I):
            counts["EUR"] = counts.get("EUR", 0) + 1
        if re.search(r"\bRs\.?\s*-?\d", r.text):
            counts["INR"] = counts.get("INR", 0) + 1
    return max(counts, key=counts.get) if counts else None


def _strip_legal_form(name: str) -> str:
    return clean(LEGAL_FORM.sub("", name)).strip(" ,.-")


def _issuer(rows: list[Row], pages: list[Page]) -> Field:
    """Score candidate names: labelled sellers, legal-entity names outside the recipient
    block, and brands from the document's own web/e-mail domains, by how often they recur."""
    text = "\n".join(r.text for r in rows)
    low = text.lower()
    cands: dict[str, dict] = {}

    def add(name: str, weight: float, row: Row | None):
        name = clean(name).strip(" ,;:-*")
        if not LEGAL_FORM.search(name):
            name = name.rstrip(".")
        name = re.sub(r"^(ATTN|T\.a\.v\.)\s*:?\s*", "", name, flags=re.I)
        if not name or len(name) > 60 or _letters(name) < 2 or re.search(r"@|https?:|\d{4,}", name):
            return
        key = _strip_legal_form(name).lower() or name.lower()
        c = cands.setdefault(key, {"name": name, "score": 0.0, "row": row})
        c["score"] += weight
        if LEGAL_FORM.search(name) and not LEGAL_FORM.search(c["name"]):
            c["name"], c["row"] = name, row

    recipient_until = -1
    for r in rows:
        if RECIPIENT_LABEL.search(r.text) and len(r.text) < 60:
            recipient_until = r.index + 5
        m = ISSUER_LABEL.search(r.text)
        if m:
            v = m["v"]
            lf = LEGAL_FORM.search(v)
            if lf:
                v = v[: lf.end()]
            add(v, 3.0, r)
        for part in r.parts:
            for lf in LEGAL_FORM.finditer(part):
                # The words before a legal form: "Coolblue B.V.", "Amazon Web Services, Inc."
                before = part[: lf.start()].rstrip(" ,")
                before = re.split(r"(?<=[a-z]{2}[.!?:])\s+|\s{2,}", before)[-1]
                words = re.findall(r"[\w&'.\-]+", before)
                name_words = []
                for w in reversed(words[-5:]):
                    if re.fullmatch(r"[A-Za-z0-9&'.\-]*[A-Za-z][\w&'.\-]*", w) and (
                        w[0].isupper()
                        or w[0].isdigit()
                        or w in ("&", "-")
                        or re.search(r"[A-Z]", w)
                    ):
                        name_words.insert(0, w)
                    else:
                        break
                if not name_words:
                    continue
                if name_words[0].lower() in ("by", "from", "and", "the"):
                    name_words = name_words[1:]
                matches = list(
                    re.finditer(r"[\s,]+".join(map(re.escape, name_words)), part[: lf.start()])
                )
                seq = matches[-1] if matches else None
                name = (
                    part[seq.start() : lf.end()]
                    if seq
                    else " ".join(name_words) + " " + lf.group(0)
                )
                in_recipient = r.index <= recipient_until
                add(name, 0.5 if in_recipient else 2.0, r)
    # Brands from the document's own domains (not free-mail providers)
    domains = []
    for r in rows:
        for u in find_urls(r.text):
            host = re.sub(r"^https?://", "", u["value"]).split("/")[0]
            domains.append((host, r))
        for e in EMAIL_RE.finditer(r.text):
            domains.append((e.group(0).split("@")[1], r))
    seen_brands = set()
    for host, r in domains:
        parts = host.lower().split(".")
        if len(parts) < 2:
            continue
        brand = parts[-2] if parts[-2] not in ("co", "com") or len(parts) < 3 else parts[-3]
        if brand in FREE_MAIL or len(brand) < 3 or brand in seen_brands:
            continue
        seen_brands.add(brand)
        mentions = len(re.findall(rf"(?<![\w@.]){re.escape(brand)}(?![\w])", low))
        # The capitalised spelling used in the text, e.g. "Flipkart", "Free", "NETPRESSE"
        spelled = re.search(rf"(?<![\w@./]){re.escape(brand)}(?![\w.])", text, re.I)
        name = spelled.group(0) if spelled else brand.capitalize()
        add(name, min(1.5, 0.5 + 0.2 * mentions), r)
        cands[_strip_legal_form(name).lower() or name.lower()]["brand"] = True
    # Recurrence across the text boosts every candidate
    for c in cands.values():
        core = _strip_legal_form(c["name"]).lower()
        if core and len(core) >= 3 and not c.get("brand"):
            c["score"] += 0.3 * min(6, len(re.findall(rf"(?<!\w){re.escape(core)}(?!\w)", low)))
    # A brand that is a word of a legal-entity name ("amazon" in "Amazon Web Services, Inc.")
    # supports that name rather than competing with it.
    for key, c in list(cands.items()):
        if c.get("brand"):
            for other_key, other in cands.items():
                if other_key != key and re.search(rf"(?<!\w){re.escape(key)}(?!\w)", other_key):
                    other["score"] += c["score"]
                    cands.pop(key)
                    break
    if not cands:
        return make_field("issuer", None)
    best = max(cands.values(), key=lambda c: c["score"])
    if os.environ.get("EXTRACTION_DEBUG"):
        print({k: (round(c["score"], 2), c["name"]) for k, c in cands.items()})
    conf = min(0.9, 0.3 + best["score"] / 10)
    return make_field(
        "issuer",
        best["name"],
        _strip_legal_form(best["name"]),
        conf,
        best["row"],
        best["row"].text if best["row"] else None,
    )


def invoice_fields(pages: list[Page]) -> list[Field]:
    rows = _all_rows(pages)
    number = _invoice_number(rows)
    number_row = None
    if number.value is not None:
        number_row = next((r for r in rows if number.source.text == r.text), None)
    amount, cur = _invoice_amount(rows)
    currency = cur or _document_currency(rows)
    return [
        _issuer(rows, pages),
        _invoice_date(rows, number_row),
        amount,
        number,
        make_field(
            "currency", currency, currency, 0.8 if cur else (0.5 if currency else 0.0), None
        ),
    ]


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
    has_total = bool(re.search(r"\btotal\b|\btotaal\b|\bsumme\b|\bmontant\b", text, re.I))
    ocr = any(p.method == "ocr" for p in pages)
    if has_total and (receipt >= 3 or invoice >= 2):
        if ocr and receipt >= invoice:
            return "receipt"
        return "invoice" if invoice >= receipt or not ocr else "receipt"
    n_lines = len(rows)
    if n_lines <= 25 and (find_emails(text) or find_phones(text)) and not has_total:
        return "contact"
    return "generic"
