"""Field extraction for receipts, contacts and user schemas (invoices: invoices.py).

Everything here is general heuristics over lines of text (with boxes when the
page has them): labels, key words, position on the page and value shapes.
Nothing is keyed to particular documents.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from .dates import DateMatch, find_dates
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

COMPANY_SUFFIX = re.compile(
    r"\b(SDN\.?\s*BHD|SDN|BHD|BERHAD|S/B|ENTERPRISES?|TRADING|RESTAURANTS?|RESTORAN|HARDWARE|STATIONERY|"
    r"MART|MARKET|MINI\s?MARKET|SUPERMARKET|HYPERMARKET|GALLERY|CO\.|COMPANY|LTD|LIMITED|INC|LLC|PLC|GMBH|"
    r"B\.V\.|N\.V\.|SARL|SAS|STORES?|SHOP|CAFE|BAKERY|PHARMACY|FARMASI|KEDAI|PERNIAGAAN|ELECTRICAL|"
    r"MACHINERY|MOTOR|CENTRE|CENTER|INTERNATIONAL|HOLDINGS|INDUSTRIES|CORPORATION|CORP|BOOKS?|BOUTIQUE|"
    r"TEA|COFFEE|KOPI|FOOD|FOODS|NASI|MAMAK|DELIGHTS|SERVICES?|STATION|PETRO|AUTO|PLT|SUPPLY|SUPPLIES|"
    r"TRADERS?|MEDICAL|CLINIC|HOTEL|KITCHEN|BISTRO|DECO|FURNITURE|TEXTILE|OPTICAL|ELECTRONICS?|GROUP)\b",
    re.IGNORECASE,
)
CONTINUATION_START = re.compile(
    r"^(\(|&|SDN|BHD|BERHAD|ENTERPRISE|TRADING|CO\b|\(M\)|LTD|LIMITED|INC)", re.I
)
REG_NO = re.compile(
    r"^[\(\[]?\s*(?:(?:CO\.?\s*)?(?:REG|ROC|CO|COMPANY|BUSINESS)[\w\s.]*(?:NO)?\.?\s*[:.]?\s*)?[A-Z]{0,3}\s*\d[\d\s]{3,}[-\s]?[A-Z]?\s*[\)\]]?$",
    re.I,
)
REG_SUFFIX = re.compile(
    r"\s*[\(\[]?\s*(?:CO[\s.\-]*(?:R\w?G|NO)\b|ROC\b|REG\b|COMPANY\s*(?:NO|REG))[^)\]]*[\)\]]?\s*$"
    r"|\s*[\(\[]?\s*[A-Z]{0,3}\d{5,}[-\s·.]?[A-Z]?\s*[\)\]]?\s*$",
    re.I,
)
JUNK_TOP = re.compile(
    r"(TAX\s*INVOICE|INVOICE|RECEIPT|WELCOME|THANK|CASH\s*BILL|CASH\s*SALES|OFFICIAL|COPY|TABLE|ORDER\b|BILL\b|"
    r"SHOPPING\s+WITH|\.COM\b|WWW\.)",  # slogans and web addresses printed above the name
    re.I,
)
ADDRESS_WORD = re.compile(
    r"\b(JALAN|JLN|TAMAN|TMN|LOT|NO\b|NO\.|LEVEL|LVL|FLOOR|FLR|BLOCK|BLK|BANGUNAN|PLAZA|KAWASAN|"
    r"BANDAR|BATU|"
    r"LORONG|PERSIARAN|LEBUH|KAMPUNG|KG|SEKSYEN|SECTION|ROAD|RD|STREET|ST\b|AVENUE|AVE|LANE|UNIT|SUITE|"
    r"KUALA|SELANGOR|JOHOR|PERAK|PENANG|PULAU|MELAKA|PAHANG|KEDAH|SABAH|SARAWAK|MALAYSIA|LUMPUR|"
    r"SHAH ALAM|"
    r"PETALING|KLANG|CHERAS|PUCHONG|SUBANG|JAYA|BAHRU|MASAI|SERI|SRI|INDUSTRI|PERINDUSTRIAN|UTARA|SELATAN|"
    r"BARAT|TIMUR|DARUL|EHSAN|TAKZIM|PUSAT|KOMPLEKS|COMPLEX|MALL|CITY|CENTRE|CENTER|PARK|GARDEN|HEIGHTS|"
    r"TOWER|MENARA|WISMA|DESA|SUNGAI|SG|BUKIT|BKT|PJU|SS\d*|USJ|PERMAS|SETIA|SEKSYEN)\b",
    re.I,
)
POSTCODE = re.compile(r"(?<!\d)\d{5}(?!\d)")
ADDRESS_STOP = re.compile(
    r"(\bTEL\b|\bTEL[:.]|\bTELE|PHONE|\bFAX\b|\bFAX[:.]|H/P|\bHP\b|\bMOB|\bGST\b|\bSST\b|\bREG\b|\bROC\b|E-?MAIL|@|WWW\.|HTTP|"
    r"INVOICE|INVOICE|RECEIPT|\bBILL\b|\bCASH|\bDATE\b|\bTIME\b|\bDOC\b|DOCUMENT|CASHIER|TABLE|\bORDER|"
    r"\bSALES\b|\bQTY\b|\bITEM|\bTAX\b|\bCOMPANY\s*(NO|REG)|\bCO\.?\s*(NO|REG)|BUSINESS|\bID\b|OPEN\s|\bDAILY\b)",
    re.I,
)

TOTAL_LABELS = [
    # (pattern, priority) - higher wins; "rounded"/"nett"/"grand" totals are what was paid.
    (
        re.compile(
            r"(TOTAL\s*(AMT\.?\s*)?ROUNDED|ROUNDED\s*TOTAL|TOTAL\s+AFTER\s+(ADJ|ROUND))", re.I
        ),
        10,
    ),
    (
        re.compile(
            r"(GRAND\s*TOTAL|NETT?\s*TOTAL|TOTAL\s*NETT?|NETT?\s*(AMT|AMOUNT)|(AMOUNT|AMT)\s*DUE|BALANCE\s*DUE|PAYAB|JUMLAH)",
            re.I,
        ),
        9,
    ),
    (re.compile(r"TOTAL\s*(SALES\s*)?\(?\s*(INCL|INCLUSIVE|INC\b|INCLUDES?)", re.I), 8),
    (
        re.compile(
            r"TOTAL\s*(AMOUNT|AMT|SALES|RM|\(RM\)|\(MYR\)|:?\s*MYR|DUE|PRICE)?\s*[:.]?\s*$", re.I
        ),
        7,
    ),
    (re.compile(r"\bTOTAL\b", re.I), 5),
]
TOTAL_EXCLUDE = re.compile(
    r"(SUB[\s-]*TOTAL|TOTAL\s*(QTY|QUANTITY|ITEMS?|ITEM\(S\)|DISC|DISCOUNT|SAVING|GST|TAX|EXCL|EXCLUDING|\(EXCL|\(EX)|"
    r"EXCL|EXCLUDING|\(EX\)|TOTAL\s*GROSS|GST\s*SUMMARY|TAX\s*CODE|INCLUDES\s*\d+%?\s*GST|INCLUDED\s+IN|TOTAL\s*TAX|"
    r"CHANGE|TENDER|QTY|(GST|TAX|SST|VAT)\s*(PAYAB|AMOUNT|AMT))",
    re.I,
)
MONEY_TOKEN = re.compile(
    r"(?<![\d,])(?<!\d\.)(?P<sym>\$)?(?P<num>-?\d{1,3}(?:,\d{3})*[.,]\d{2}|-?\d+[.,]\d{2})(?![\d%])"
)


def _money_tokens(text: str) -> list[re.Match]:
    return list(MONEY_TOKEN.finditer(text))


def _format_printed_amount(m: re.Match) -> str:
    num = m["num"].replace(",", ".") if re.fullmatch(r"-?\d+,\d{2}", m["num"]) else m["num"]
    return (m["sym"] or "") + num


STRONG_SUFFIX = re.compile(
    r"\b(SDN\.?\s*BHD|SDN|BHD|BERHAD|S/B|ENTERPRISES?|TRADING|CO\.|COMPANY|LTD|LIMITED|INC|LLC|PLC|GMBH|"
    r"B\.V\.|N\.V\.|SARL|SAS|PLT|HOLDINGS|CORPORATION|CORP|PERNIAGAAN|KEDAI)\b",
    re.I,
)


def _company_candidate(t: str) -> bool:
    if _letters(t) < 3:
        return False
    if _upper_ratio(t) < 0.05 and not COMPANY_SUFFIX.search(t):
        return False  # hand-written notes are lower case
    return not (REG_NO.match(t) or (JUNK_TOP.search(t) and not COMPANY_SUFFIX.search(t)))


def _company_block(rows: list[Row], top_limit: int = 10) -> tuple[list[Row], int]:
    """Rows forming the merchant name near the top, and the index after them."""
    candidates = [r for r in rows[:top_limit] if _company_candidate(r.text)]
    if not candidates:
        return [], 0
    # Prefer the first row carrying a legal-form suffix among the first candidates,
    # unless an address line comes before it (then the name is the first candidate).
    start = None
    for r in candidates[:5]:
        if POSTCODE.search(r.text) or (ADDRESS_WORD.search(r.text) and re.search(r"\d", r.text)):
            break
        if STRONG_SUFFIX.search(r.text):
            start = r
            break
    if start is None:
        start = candidates[0]
    idx = start.index
    block = [start]
    # Walk back: a name split over lines ("HOME MASTER HARDWARE &" / "ELECTRICAL",
    # "LIAN CHI PU TIAN VEGETARIAN" / "RESTAURANT SDN BHD").
    short_suffix_row = STRONG_SUFFIX.search(start.text) and len(start.text.split()) <= 3
    while idx > 0 and len(block) < 4:
        prev = rows[idx - 1]
        if (
            prev.page is not start.page
            or not _company_candidate(prev.text)
            or re.search(r"\d{3,}", prev.text)
        ):
            break
        if (
            prev.text.endswith("&")
            or CONTINUATION_START.match(block[0].text)
            or (short_suffix_row and len(block) == 1)
        ):
            block.insert(0, prev)
            idx -= 1
        else:
            break
    # Walk forward while the name is visibly unfinished.
    j = start.index + 1
    while j < len(rows) and len(block) < 4:
        text = " ".join(r.text for r in block)
        nxt = rows[j]
        unfinished = text.endswith("&") or text.count("(") > text.count(")")
        cont = (
            CONTINUATION_START.match(nxt.text)
            and not REG_NO.match(nxt.text)
            and not ADDRESS_WORD.search(nxt.text)
        )
        # A second name row closed by the registration number ("RESTAURANT JIAWEI" /
        # "JIAWEI HOUSE" / "002693074-K") belongs to the name.
        before_reg_no = (
            j + 1 < len(rows)
            and REG_NO.match(rows[j + 1].text)
            and not re.search(r"\d", nxt.text)
            and not ADDRESS_WORD.search(nxt.text)
        )
        cont = cont or before_reg_no
        if (unfinished or cont) and not POSTCODE.search(nxt.text) and _company_candidate(nxt.text):
            block.append(nxt)
            j += 1
        else:
            break
    return block, j


def _clean_company(text: str) -> str:
    text = clean(text.replace("_", " "))
    labelled = re.match(r"^[A-Za-z .]{2,20}:\s*(?P<rest>.+)$", text)
    if labelled and STRONG_SUFFIX.search(labelled["rest"]):
        text = labelled["rest"]
    text = REG_SUFFIX.sub("", text)
    text = re.sub(r"\(\s+", "(", text)
    text = re.sub(r"\s+\)", ")", text)
    # OCR specks: a dash glued to the legal form ("INTERNATIONAL-SDN BHD") or left
    # dangling before the next word ("BOOK- CO."), and "I" read for "l" inside a
    # lower-case word ("WorId").
    text = re.sub(r"\s*-\s*(?=(?:SDN|BHD|BERHAD|CO\.|\(M\))(?!\w))", " ", text, flags=re.I)
    text = re.sub(r"(?<=[A-Za-z])- (?=[A-Za-z])", " ", text)
    text = re.sub(r"(?<=[a-z])I(?=[a-z])", "l", text)
    return printed_spacing(text).strip(" ,;:-")


def printed_spacing(text: str) -> str:
    """Restore the spaces a printed name or address has but OCR tends to drop.

    Receipts print a bracketed part as a separate word ("ENTERPRISE (SETIA ALAM) SDN BHD",
    "MR. D.I.Y. (M) SDN BHD"), legal forms as "SDN. BHD.", a run of initials apart from
    the next word ("S.H.H. MOTOR") and a postcode apart from the town ("53300 KL").
    """
    text = re.sub(r"(?<=[A-Za-z0-9.])\((?=[A-Za-z0-9#])", " (", text)
    text = re.sub(r"\)(?=[A-Za-z0-9])", ") ", text)
    text = re.sub(r"\b(SDN)\.(?=BHD\b)", r"\1. ", text, flags=re.I)
    text = re.sub(r"(?<![\w.])((?:[A-Z]\.){2,})(?=[A-Z]{2,})", r"\1 ", text)
    text = re.sub(r"(?<![\d\-])(\d{5})(?=[A-Z]{2,}\b)", r"\1 ", text)
    return text


LABEL_PREFIX = re.compile(r"^(?![Nn][Oo]\b)[A-Za-z][A-Za-z .#/]{1,24}\s*[:\uff1a]")
ADDRESS_START = re.compile(
    r"^(NO\b|NO[.,:]|LOT\b|UNIT\b|LEVEL\b|LVL\b|BLOCK\b|BLK\b|SUITE\b|JALAN\b|JLN\b|TINGKAT\b|[A-Z]{0,2}-?\d)",
    re.I,
)
STATE_WORD = re.compile(
    r"\b(MALAYSIA|SELANGOR|JOHOR|KUALA LUMPUR|KL|PERAK|PENANG|PULAU PINANG|MELAKA|MALACCA|PAHANG|"
    r"KEDAH|KELANTAN|"
    r"TERENGGANU|SABAH|SARAWAK|PERLIS|NEGERI SEMBILAN|PUTRAJAYA|LABUAN|DARUL \w+|D\.E\.?)\b",
    re.I,
)


CORE_ADDRESS = re.compile(
    r"\b(LOT|NO\b|NO\.|JALAN|JLN|PLAZA|BLOCK|BLK|LEVEL|FLOOR|FLR|UNIT|TAMAN|TMN|ROAD|STREET|LORONG)\b",
    re.I,
)
BRANCH_ROW = re.compile(r"^\d{3,5}(\s*-\s*|\s+)[A-Z]", re.I)


def _address_like(t: str) -> bool:
    return bool(re.search(r"\d", t) or ADDRESS_WORD.search(t))


def _receipt_address_rows(rows: list[Row], after: int) -> list[Row]:
    """Rows of the merchant address: from the first address-looking row after the
    name until a phone/tax/document row; one row past the postcode only when it
    names a state/country or a branch in brackets."""
    # Find the start among the next few rows; prefer a row that starts like an address.
    window = []
    for r in rows[after : after + 6]:
        t = r.text
        if REG_NO.match(t) or find_dates(t) or LABEL_PREFIX.match(t) or _letters(t) < 2:
            continue
        if ADDRESS_STOP.search(t):
            continue
        if _address_like(t):
            window.append(r)
    if not window:
        return []
    start = next(
        (r for r in window if ADDRESS_START.match(r.text) or CORE_ADDRESS.search(r.text)), window[0]
    )
    # Rows between the company and an address-start row that look like a branch
    # name ("IKEA Cheras") are not part of the address.
    out: list[Row] = []
    seen_postcode = False
    j = start.index
    while j < len(rows) and len(out) < 6:
        r = rows[j]
        t = r.text
        if out:
            if ADDRESS_STOP.search(t) or REG_NO.match(t) or find_dates(t) or LABEL_PREFIX.match(t):
                break
            if re.fullmatch(r"[\d\s\-()+/]{6,}", t) or re.search(r"\b[TF]\s*:\s*\+?\d", t):
                break
            if _letters(t) < 2 and not POSTCODE.search(t):
                break
            if seen_postcode and not (
                STATE_WORD.search(t) or re.fullmatch(r"\(.*\)", t) or BRANCH_ROW.match(t)
            ):
                break
        stop = ADDRESS_STOP.search(t)
        if stop and out:
            break
        if stop and stop.start() > 0:
            t = t[: stop.start()].strip(" ,;")
        phone = re.search(r"\s+\b[TF]\s*:\s*\+?\d.*$", t)
        if phone:
            t = t[: phone.start()]
        out.append(Row(r.page, r.index, r.line, t))
        if POSTCODE.search(t):
            seen_postcode = True
            if STATE_WORD.search(t[POSTCODE.search(t).end() :]) and not re.search(r"[,]\s*$", t):
                # "81100 JOHOR BAHRU, JOHOR." - postcode and state on one row; a following
                # bracketed branch name may still belong to it.
                pass
        j += 1
    return out


def _pattern_words(*patterns: re.Pattern) -> set[str]:
    return {w for p in patterns for w in re.findall(r"[A-Z]{5,}", p.pattern)}


# Place and street words a misread letter turns into a non-word ("SCLANGOR", "8ESAR").
ADDRESS_VOCABULARY = _pattern_words(ADDRESS_WORD, STATE_WORD) | {
    "BESAR",
    "INDAH",
    "RAYA",
    "UTAMA",
    "PERDANA",
    "INDUSTRIAL",
    "BOULEVARD",
    "HIGHWAY",
}


# Characters a recogniser confuses on thermal print; other differences are real
# spellings ("SUNGEI", a misprinted "AVEVUE") and are kept as printed.
OCR_CONFUSIONS = {
    frozenset(pair) for pair in ("8B", "0O", "0D", "OD", "CE", "CG", "1I", "1L", "IL", "5S", "2Z")
}


def _one_confusion_apart(word: str, known: str) -> bool:
    diffs = [(a, b) for a, b in zip(word, known, strict=True) if a != b]
    return len(diffs) == 1 and frozenset(diffs[0]) in OCR_CONFUSIONS


def _fix_address_word(m: re.Match) -> str:
    """Replace a word one misread character away from exactly one known address word."""
    word = m[0]
    upper = word.upper()
    if upper in ADDRESS_VOCABULARY:
        return word
    near = [
        v for v in ADDRESS_VOCABULARY if len(v) == len(upper) and _one_confusion_apart(upper, v)
    ]
    if len(near) != 1:
        return word
    return near[0] if word.isupper() or not word.isalpha() else near[0].capitalize()


def _address_words(text: str) -> str:
    return re.sub(r"(?<![\w'])[A-Za-z0-9]{5,}(?![\w'])", _fix_address_word, text)


def _address_punctuation(text: str) -> str:
    """Undo the commonest OCR slips in a printed street address.

    Address parts are separated by commas ("LOT 38, 39 BOULEVARD, JALAN KENARI 5,
    BANDAR PUCHONG JAYA, 47170 PUCHONG"); a full stop followed by a space between a
    word or number and the next part is a comma the recogniser read as a period
    (abbreviations such as "NO. 5", "JLN. " or "D.E." are left alone: short words and
    single letters keep their period).  A leading "LOT" read with a digit for L/O
    ("10T", "1.OT") is restored.  A speck read as punctuation is dropped: a full stop
    before a comma ("SELATAN.,") and a colon between two words of a place name
    ("BERJUNTAI: SELANGOR"; "No: 28" keeps its colon).
    """
    text = re.sub(r"^(?:[1Il]\.?[O0]|L0)T\b", "LOT", text)
    text = re.sub(r"(?<=\w)\.,", ",", text)
    text = re.sub(r"(?<=[A-Za-z]{3}):(?=\s+[A-Za-z])", "", text)

    def comma(m: re.Match) -> str:
        word = m[1]
        part_end = re.search(r"\d", word) or re.fullmatch(r"[A-Za-z]{4,}", word)
        return word + (", " if part_end else ". ")

    return re.sub(r"(?<!\S)([\w/&'-]+)\. (?=[A-Za-z]{2}|\d)", comma, text)


def receipt_fields(pages: list[Page]) -> list[Field]:
    rows = rows_of(pages)
    fields: list[Field] = []

    # Company -----------------------------------------------------------------
    block, after = _company_block(rows)
    if block:
        company = _clean_company(" ".join(r.text for r in block))
        conf = 0.9 if COMPANY_SUFFIX.search(company) else 0.6
        fields.append(make_field("company", company, company.upper(), conf, block[0], company))
    else:
        fields.append(make_field("company", None))

    # Address -----------------------------------------------------------------
    addr_rows = _receipt_address_rows(rows, after) if block else []
    if addr_rows:
        address = _address_words(
            _address_punctuation(printed_spacing(clean(" ".join(r.text for r in addr_rows))))
        )
        conf = 0.8 if POSTCODE.search(address) else 0.5
        src = addr_rows[0].source(address)
        boxes = [r.line.box for r in addr_rows if r.line.box]
        if boxes:
            src.box = [
                round(min(b[0] for b in boxes), 2),
                round(min(b[1] for b in boxes), 2),
                round(max(b[2] for b in boxes), 2),
                round(max(b[3] for b in boxes), 2),
            ]
        fields.append(Field("address", address, address.upper(), conf, src))
    else:
        fields.append(make_field("address", None))

    # Date --------------------------------------------------------------------
    fields.append(_receipt_date(rows))

    # Total -------------------------------------------------------------------
    fields.append(_receipt_total(rows))
    return fields


COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")


def _date_printed(m: DateMatch) -> str:
    if m.kind in ("ymd", "dmy"):
        return re.sub(r"\s+", "", m.text)
    return clean(m.text)


def _receipt_date(rows: list[Row]) -> Field:
    best = None
    for r in rows:
        for m in find_dates(r.text):
            score = 1.0
            if re.search(r"\bDATE|TARIKH|\bDT\b", r.text, re.I):
                score += 1.0
            if re.search(r"\b(DUE|EXP|EXPIRY|VALID|BEST BEFORE)\b", r.text, re.I):
                score -= 1.0
            if m.kind in ("name-dmy", "name-mdy", "ymd") or len(m.text) >= 8:
                score += 0.2
            if re.match(r"\s*\d{1,2}[:.]\d{2}", r.text[m.end :]) or re.search(
                r"\d{1,2}:\d{2}", r.text
            ):
                score += 0.5
            if best is None or score > best[0]:
                best = (score, r, m)
    if best is None:
        for r in rows:
            if re.search(r"\bDATE", r.text, re.I):
                m = COMPACT_DATE.search(r.text)
                if m:
                    iso = f"{m[1]}-{m[2]}-{m[3]}"
                    return make_field("date", m.group(0), iso, 0.5, r, r.text)
        return make_field("date", None)
    score, r, m = best
    return make_field("date", _date_printed(m), m.iso, min(0.95, 0.5 + score / 4), r, r.text)


def _amount_after(rows: list[Row], r: Row, label_end: int) -> tuple[re.Match | None, Row]:
    tokens = [m for m in _money_tokens(r.text) if m.start() >= label_end]
    if tokens:
        return tokens[-1], r
    # Value printed on the next row (or split by OCR), only if that row is not another label.
    if r.index + 1 < len(rows):
        nxt = rows[r.index + 1]
        if nxt.page is r.page and not re.search(r"[A-Za-z]{4,}", nxt.text):
            tokens = _money_tokens(nxt.text)
            if tokens:
                return tokens[-1], nxt
    return None, r


SUMMARY_HEADER = re.compile(
    r"(GST|TAX|SST)\s*(SUMMARY|SUMMAR|ANALYSIS)|TAX\s*CODE.*(AMOUNT|AMT|%)|^\W*CODE\W+AMOUNT", re.I
)
ROUNDING = re.compile(r"ROUND", re.I)


def _value_of(tok: re.Match) -> Decimal | None:
    num = tok["num"]
    value = parse_number(num.lstrip("-").replace(",", "."))
    if value is not None and (
        num.startswith("-") or re.search(r"-\s*(RM|\$|MYR)?\s*$", tok.string[: tok.start()])
    ):
        value = -value
    return value


TENDER = re.compile(r"^\W*(CASH|TENDER(ED)?|PAID|AMOUNT\s*PAID|PAYMENT)\b(?!.*CHANGE)", re.I)
CHANGE = re.compile(r"^\W*(CASH\s*)?CHANGE\b", re.I)


def _paid_amount(rows: list[Row], after: int) -> tuple[Decimal, Row] | None:
    """What was paid, from the tender row and the change row that follows it
    ("CASH 50.00" / "CHANGE 7.30" → 42.70); ``None`` when either is missing."""
    for i, r in enumerate(rows[after:], start=after):
        label = TENDER.search(r.text)
        if not label:
            continue
        tendered, tender_row = _amount_after(rows, r, label.end())
        if tendered is None:  # "CASH" as the sale type in the header, "Payment details"
            continue
        for c in rows[i + 1 : i + 4]:
            m = CHANGE.search(c.text)
            if m:
                change, _ = _amount_after(rows, c, m.end())
                t, ch = _value_of(tendered), _value_of(change) if change else None
                if t is None or ch is None or ch < 0 or t - ch <= 0:
                    return None
                return t - ch, tender_row
        return None
    return None


def _receipt_total(rows: list[Row]) -> Field:
    candidates = []
    n = len(rows)
    in_summary = False
    for r in rows:
        if SUMMARY_HEADER.search(r.text):
            in_summary = True  # the tax summary table repeats "Total" with net and tax columns
            continue
        if in_summary:
            continue
        if TOTAL_EXCLUDE.search(r.text) and not re.search(
            r"ROUNDED|NETT?\s*TOTAL|GRAND|TOTAL.{0,8}PAYAB", r.text, re.I
        ):
            continue
        for rx, prio in TOTAL_LABELS:
            m = rx.search(r.text)
            if m:
                tok, vr = _amount_after(rows, r, m.end())
                if tok is not None:
                    value = _value_of(tok)
                    if value is not None and value > 0:
                        candidates.append((prio, r.index / max(1, n), tok, vr, value, r))
                break
    if candidates:
        # Highest priority; among equals the lower on the page (later totals override earlier ones).
        candidates.sort(key=lambda c: (c[0], c[1]))
        prio, _, tok, vr, value, lr = candidates[-1]
        printed = _format_printed_amount(tok)
        conf = 0.6 + prio / 30
        # A rounding adjustment printed right after an unrounded total changes what was paid.
        if prio < 10:
            for nxt in rows[lr.index + 1 : lr.index + 3]:
                if ROUNDING.search(nxt.text):
                    toks = _money_tokens(nxt.text)
                    adj = _value_of(toks[-1]) if toks else None
                    if adj and abs(adj) < 1 and adj != 0:
                        value = value + adj
                        printed = f"{value:.2f}"
                        conf -= 0.1
                    break
        paid = _paid_amount(rows, lr.index)
        if paid is not None and paid[0] != value and abs(paid[0] - value) < 1:
            # The tender and change rows settle what was paid: a total read one digit off
            # ("112.46" beside "CASH 112.45 / CHANGE 0.00") or printed before rounding.
            value, printed, vr = paid[0], f"{paid[0]:.2f}", paid[1]
        return make_field("total", printed, str(value), conf, vr, vr.text)
    paid = _paid_amount(rows, 0)
    if paid is not None:
        return make_field("total", f"{paid[0]:.2f}", str(paid[0]), 0.5, paid[1], paid[1].text)
    # Fallback 1: sub-total plus tax when no total is printed.
    sub = tax = None
    sub_row = None
    for r in rows:
        toks = _money_tokens(r.text)
        if not toks:
            continue
        if sub is None and re.search(r"SUB[\s-]*TOTAL", r.text, re.I):
            sub, sub_row = _value_of(toks[-1]), r
        elif (
            sub is not None
            and tax is None
            and re.search(r"\b(GST|TAX|SST|VAT)\b", r.text, re.I)
            and len(toks) == 1
        ):
            tax = _value_of(toks[-1])
    if sub is not None and sub_row is not None:
        value = sub + (tax or 0)
        return make_field("total", f"{value:.2f}", str(value), 0.4, sub_row, sub_row.text)
    # Fallback 2: the most frequent amount, larger first.
    amounts = []
    for r in rows:
        for tok in _money_tokens(r.text):
            v = _value_of(tok)
            if v is not None and v > 0:
                amounts.append((v, tok, r))
    if not amounts:
        return make_field("total", None)
    counts: dict[Decimal, int] = {}
    for v, _, _ in amounts:
        counts[v] = counts.get(v, 0) + 1
    v, tok, r = max(amounts, key=lambda a: (counts[a[0]], a[0]))
    return make_field("total", _format_printed_amount(tok), str(v), 0.3, r, r.text)


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
