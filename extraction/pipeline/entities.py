"""Entities (emails, phones, dates, amounts, URLs) and key-value pairs from page text."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from . import config
from .dates import find_dates
from .result import Page

EMAIL_RE = re.compile(
    r"(?<![\w.+-])[\w.+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])"
)
URL_RE = re.compile(
    r"(?<![@\w.\-/])(?:(?:https?://|www\.)[^\s<>\"']+|(?:[a-z0-9-]+\.)+(?:com|org|net|io|eu|nl|fr|de|uk|my|in|co|be|ch|it|es|biz|info)(?:/[^\s<>\"']*)?)(?![\w@])",
    re.IGNORECASE,
)
CURRENCY_SYMBOLS = {
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "₹": "INR",
    "¥": "JPY",
    "RM": "MYR",
    "Rs": "INR",
    "Rs.": "INR",
}
CURRENCY_CODES = {
    "USD",
    "EUR",
    "GBP",
    "INR",
    "MYR",
    "SGD",
    "JPY",
    "CHF",
    "AUD",
    "CAD",
    "CNY",
    "IDR",
    "THB",
}
_CUR = r"(?:US\$|S\$|RM|Rs\.?|INR|EUR|USD|GBP|MYR|SGD|CHF|[$€£₹¥])"
AMOUNT_RE = re.compile(
    rf"(?:(?P<cur1>{_CUR})\s?)?(?P<num>-?\d{{1,3}}(?:[,.\s']\d{{3}})*[.,]\d{{2}}|-?\d+[.,]\d{{2}})(?![\d%])(?:\s?(?P<cur2>{_CUR})(?![A-Za-z]))?"
)


def parse_number(text: str) -> Decimal | None:
    """Parse an amount such as ``1.234,56``, ``1,234.56``, ``RM 9.00`` or ``€ 56,02``."""
    try:
        from price_parser import Price

        price = Price.fromstring(text)
        if price.amount is not None:
            return price.amount
    except ImportError:  # pragma: no cover - price-parser is a declared dependency
        pass
    m = re.search(r"-?\d[\d.,\s']*", text)
    if not m:
        return None
    s = re.sub(r"[\s']", "", m.group(0)).rstrip(".,")
    if re.search(r"[.,]\d{2}$", s):
        s = re.sub(r"[.,]", "", s[:-3]) + "." + s[-2:]
    else:
        s = re.sub(r"[.,]", "", s)
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def currency_of(text: str) -> str | None:
    t = text.strip()
    up = t.upper()
    for code in CURRENCY_CODES:
        if re.search(rf"(?<![A-Z]){code}(?![A-Z])", up):
            return code
    for sym, code in CURRENCY_SYMBOLS.items():
        if sym in t:
            return code
    return None


def find_amounts(text: str) -> list[dict]:
    out = []
    for m in AMOUNT_RE.finditer(text):
        value = parse_number(m["num"])
        if value is None:
            continue
        cur = m["cur1"] or m["cur2"]
        out.append(
            {
                "text": m.group(0).strip(),
                "value": str(value),
                "currency": currency_of(cur) if cur else None,
            }
        )
    return out


def validate_email(candidate: str) -> str | None:
    try:
        from email_validator import EmailNotValidError
        from email_validator import validate_email as _validate
    except ImportError:  # pragma: no cover
        return candidate.lower() if EMAIL_RE.fullmatch(candidate) else None
    try:
        return _validate(candidate, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def find_emails(text: str) -> list[dict]:
    out, seen = [], set()
    for m in EMAIL_RE.finditer(text):
        norm = validate_email(m.group(0).strip(".'"))
        if norm and norm.lower() not in seen:
            seen.add(norm.lower())
            out.append({"text": m.group(0), "value": norm})
    return out


def phone_regions() -> list[str]:
    return list(config.current().phone_regions) or ["US"]


def find_phones(text: str, regions: list[str] | None = None) -> list[dict]:
    import phonenumbers

    out, seen = [], set()
    for region in regions or phone_regions():
        for m in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.VALID
        ):
            e164 = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            if e164 in seen:
                continue
            seen.add(e164)
            out.append({"text": m.raw_string, "value": e164, "start": m.start, "end": m.end})
    out.sort(key=lambda d: d["start"])
    for d in out:
        d.pop("start"), d.pop("end")
    return out


def find_urls(text: str) -> list[dict]:
    out, seen = [], set()
    text = EMAIL_RE.sub(" ", text)
    for m in URL_RE.finditer(text):
        url = m.group(0).rstrip(".,;:)")
        if "@" in url or url.lower() in seen:
            continue
        # Skip decimal-looking or file-name-like tokens such as "invoice.pdf"
        if re.fullmatch(r"[\w-]+\.(?:pdf|png|jpg|docx?)", url, re.I):
            continue
        seen.add(url.lower())
        value = url if re.match(r"https?://", url, re.I) else "http://" + url
        out.append({"text": url, "value": value})
    return out


def find_entities(pages: list[Page]) -> dict[str, list]:
    ents: dict[str, list] = {"emails": [], "phones": [], "dates": [], "amounts": [], "urls": []}
    for page in pages:
        text = page.text
        for kind, items in (
            ("emails", find_emails(text)),
            ("phones", find_phones(text)),
            ("dates", [{"text": d.text, "value": d.iso} for d in find_dates(text)]),
            ("amounts", find_amounts(text)),
            ("urls", find_urls(text)),
        ):
            for item in items:
                item["page"] = page.number
                ents[kind].append(item)
    return ents


KV_COLON = re.compile(r"^\s*(?P<key>[^:\n]{1,40}?)\s*[:\uff1a]\s*(?P<value>\S.*?)\s*$")


def find_key_values(pages: list[Page]) -> list[dict]:
    """``Key: value`` lines, two-cell table rows and two-part OCR rows that look like labels."""
    out = []
    for page in pages:
        for line in page.lines:
            text = line.text
            if "\t" in text:
                cells = [c.strip() for c in text.split("\t") if c.strip()]
                if (
                    len(cells) == 2
                    and len(cells[0]) <= 40
                    and not re.fullmatch(r"[\d\W]+", cells[0])
                ):
                    out.append(
                        {"key": cells[0].rstrip(":"), "value": cells[1], "page": page.number}
                    )
                    continue
            m = KV_COLON.match(text)
            if (
                m
                and not re.match(r"^\d{1,2}$", m["key"].strip())
                and len(m["key"].split()) <= 6
                and not re.match(r"^(https?|www)$", m["key"], re.I)
            ):
                key = m["key"].strip(" .-")
                if key and re.search(r"[A-Za-z]", key):
                    out.append({"key": key, "value": m["value"], "page": page.number})
                    continue
            if line.parts and len(line.parts) == 2:
                k, v = line.parts
                if re.fullmatch(r"[A-Za-z][A-Za-z .#/()-]{1,30}", k.strip()) and re.search(
                    r"\d", v
                ):
                    out.append({"key": k.strip(" .:"), "value": v.strip(), "page": page.number})
    return out
