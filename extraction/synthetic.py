"""Made-up documents for tests and measurements: a tiny PDF writer whose text layer can be
laid out the way different generators do it, and invoices built with it.

Text-layer layouts (``Layout``):

- ``line``: one text object per line, spaces as characters (office suites);
- ``word``: one text object per word, placed absolutely (some report generators);
- ``glyph``: one text object per glyph (wkhtmltopdf, PyPDF2 merges);
- ``glyph-reversed``: one per glyph, each line's glyphs written right to left;
- ``kerned``: one TJ per line, word spaces as position adjustments (TeX, some printers).

Any layout can be drawn on a page stored sideways (``/Rotate 90``) so that it displays
upright, as scanners and landscape templates write them.

    python -m extraction.synthetic OUT_DIR [--count 40] [--seed 7]

writes ``OUT_DIR/NNN.pdf`` and ``NNN.json`` (issuer, amount, date, invoice_number,
currency) that ``manage.py extraction_eval OUT_DIR`` scores like real invoices.
Nothing here is read by the pipeline; nothing in the pipeline is fitted on it.
"""

from __future__ import annotations

import argparse
import io
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

Layout = Literal["line", "word", "glyph", "glyph-reversed", "kerned"]
LAYOUTS: tuple[Layout, ...] = ("line", "word", "glyph", "glyph-reversed", "kerned")

# Advance widths (1/1000 em) of the standard Helvetica font, from its AFM file; accented
# letters take their base letter's width.  Courier is 600 throughout.
_ASCII = "".join(chr(c) for c in range(32, 127))
_HELVETICA_WIDTHS = (
    [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278]
    + [556] * 10
    + [278, 278, 584, 584, 584, 556, 1015]
    + [667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833]
    + [722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611]
    + [278, 278, 278, 469, 556, 333]
    + [556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833]
    + [556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500]
    + [334, 260, 334, 584]
)
HELVETICA = dict(zip(_ASCII, _HELVETICA_WIDTHS, strict=True)) | {
    "ß": 611,
    "°": 400,
    "º": 365,
    "€": 556,
    "£": 556,
    "·": 278,
    "ﬁ": 500,
    "ﬂ": 500,
}
FONTS = {"F1": "Helvetica", "F2": "Courier"}


def advance(char: str, font: str = "F1") -> int:
    if font == "F2":
        return 600
    if char in HELVETICA:
        return HELVETICA[char]
    import unicodedata

    base = unicodedata.normalize("NFD", char)[:1]
    return HELVETICA.get(base, 556)


def text_width(text: str, size: float, font: str = "F1") -> float:
    return sum(advance(c, font) for c in text) * size / 1000


@dataclass
class Text:
    """One line of text; ``x``/``y`` are its baseline start on the page as displayed
    (points, top-left origin)."""

    x: float
    y: float
    text: str
    size: float = 10.0
    font: str = "F1"


@dataclass
class PdfPage:
    width: float = 595.0  # as displayed
    height: float = 842.0
    sideways: bool = False  # stored as a portrait page with /Rotate 90
    texts: list[Text] = field(default_factory=list)

    def add(self, x: float, y: float, text: str, size: float = 10.0, font: str = "F1") -> None:
        self.texts.append(Text(x, y, text, size, font))

    def add_right(
        self, right: float, y: float, text: str, size: float = 10.0, font: str = "F1"
    ) -> None:
        self.add(right - text_width(text, size, font), y, text, size, font)


# Ligature glyphs sit on two codes WinAnsi leaves unused (see the font's /Differences).
LIGATURE_CODES = {"ﬁ": b"\x81", "ﬂ": b"\x8d"}


def _encode(text: str) -> bytes:
    return b"".join(LIGATURE_CODES.get(c) or c.encode("cp1252", errors="replace") for c in text)


def _literal(text: str) -> bytes:
    raw = _encode(text)
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _matrix(page: PdfPage, x: float, y: float) -> bytes:
    """Text matrix drawing upright (as displayed) text with its baseline at (x, y)."""
    if page.sideways:  # user space is the displayed page turned a quarter back
        return b"0 1 -1 0 %.3f %.3f Tm" % (y, x)
    return b"1 0 0 1 %.3f %.3f Tm" % (x, page.height - y)


def _content(page: PdfPage, layout: Layout) -> bytes:
    ops: list[bytes] = []
    for item in page.texts:
        font = b"/%s %.2f Tf " % (item.font.encode(), item.size)
        if layout == "line":
            place = _matrix(page, item.x, item.y)
            ops.append(b"BT " + font + place + b" " + _literal(item.text) + b" Tj ET")
        elif layout == "kerned":
            words = item.text.split(" ")
            space = advance(" ", item.font)
            parts = b" ".join(_literal(w) + b" %d" % -space for w in words[:-1])
            ops.append(
                b"BT "
                + font
                + _matrix(page, item.x, item.y)
                + b" ["
                + parts
                + (b" " if parts else b"")
                + _literal(words[-1])
                + b"] TJ ET"
            )
        else:
            pieces: list[tuple[float, str]] = []
            x = item.x
            if layout == "word":
                for word in item.text.split(" "):
                    if word:
                        pieces.append((x, word))
                    x += text_width(word + " ", item.size, item.font)
            else:
                for char in item.text:
                    if char != " ":
                        pieces.append((x, char))
                    x += text_width(char, item.size, item.font)
                if layout == "glyph-reversed":
                    pieces.reverse()
            for px, piece in pieces:
                ops.append(
                    b"BT " + font + _matrix(page, px, item.y) + b" " + _literal(piece) + b" Tj ET"
                )
    return b"\n".join(ops)


def write_pdf(pages: list[PdfPage], layout: Layout = "line") -> bytes:
    """A PDF of ``pages`` whose text layer is laid out as ``layout``."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    fonts = {
        name: add(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding << /Type /Encoding "
            b"/BaseEncoding /WinAnsiEncoding /Differences [129 /fi 141 /fl] >> >>" % base.encode()
        )
        for name, base in FONTS.items()
    }
    resources = b"<< /Font << %s >> >>" % b" ".join(
        b"/%s %d 0 R" % (name.encode(), ref) for name, ref in fonts.items()
    )
    pages_id = len(objects) + 1 + 2 * len(pages)
    kids = []
    for page in pages:
        stream = _content(page, layout)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        w, h = (page.height, page.width) if page.sideways else (page.width, page.height)
        rotate = b" /Rotate 90" if page.sideways else b""
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f]%s /Contents %d 0 R "
                b"/Resources %s >>" % (pages_id, w, h, rotate, content, resources)
            )
        )
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (refs, len(kids))) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, catalog, xref)
    )
    return out.getvalue()


# --------------------------------------------------------------------------- invoices

# Wording per language.  Invoices are made up from these and from random names; every
# choice is drawn from a seeded generator, so a seed gives the same documents.
LANGUAGES: dict[str, dict[str, list[str]]] = {
    "en": {
        "title": ["INVOICE", "Invoice", "Tax Invoice"],
        "number": ["Invoice No.", "Invoice Number:", "Invoice #", "Invoice no:"],
        "date": ["Invoice date:", "Date:", "Date of issue:", "Issue date:"],
        "due": ["Due date:", "Payment due:"],
        "order": ["Order date:", "Delivery date:"],
        "bill_to": ["Bill to:", "Billed to:", "Customer:"],
        "items": ["Description", "Qty", "Unit price", "Amount"],
        "subtotal": ["Subtotal", "Net amount"],
        "tax": ["VAT {rate}%", "Sales tax {rate}%", "Tax ({rate}%)"],
        "total": ["Amount due", "Total due", "Total", "Grand total", "Balance due"],
        "months": [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        "thanks": ["Thank you for your business.", "Payment within 14 days."],
    },
    "de": {
        "title": ["RECHNUNG", "Rechnung"],
        "number": ["Rechnungsnr.", "Rechnungsnummer:", "Rechnung Nr.", "Rechnungs-Nr.:"],
        "date": ["Rechnungsdatum:", "Datum:"],
        "due": ["Fällig am:", "Zahlbar bis:"],
        "order": ["Lieferdatum:", "Bestelldatum:"],
        "bill_to": ["Rechnungsadresse:", "Kunde:"],
        "items": ["Beschreibung", "Menge", "Einzelpreis", "Betrag"],
        "subtotal": ["Zwischensumme", "Nettobetrag"],
        "tax": ["MwSt. {rate}%", "USt. {rate} %", "zzgl. {rate}% MwSt."],
        "total": ["Gesamtbetrag", "Rechnungsbetrag", "Summe brutto", "Zu zahlen"],
        "months": [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ],
        "thanks": ["Vielen Dank für Ihren Auftrag.", "Zahlbar innerhalb von 14 Tagen."],
    },
    "fr": {
        "title": ["FACTURE", "Facture"],
        "number": ["N° de facture :", "Facture n°", "Numéro de facture :", "Facture N°"],
        "date": ["Date de facture :", "Date :", "Date de la facture :"],
        "due": ["Date d'échéance :", "Échéance :"],
        "order": ["Date de livraison :", "Date de commande :"],
        "bill_to": ["Client :", "Adresse de facturation :"],
        "items": ["Désignation", "Qté", "Prix unitaire", "Montant"],
        "subtotal": ["Total HT", "Montant HT"],
        "tax": ["TVA {rate} %", "TVA ({rate}%)"],
        "total": ["Total TTC", "Net à payer", "Montant TTC", "Total à payer"],
        "months": [
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ],
        "thanks": ["Merci de votre confiance.", "Paiement à 30 jours."],
    },
    "nl": {
        "title": ["FACTUUR", "Factuur"],
        "number": ["Factuurnummer:", "Factuurnr.", "Factuur nr.", "Factuurnummer"],
        "date": ["Factuurdatum:", "Datum:"],
        "due": ["Vervaldatum:", "Uiterste betaaldatum:"],
        "order": ["Leverdatum:", "Besteldatum:"],
        "bill_to": ["Factuuradres:", "Klant:"],
        "items": ["Omschrijving", "Aantal", "Prijs", "Bedrag"],
        "subtotal": ["Subtotaal", "Totaal excl. BTW"],
        "tax": ["BTW {rate}%", "BTW ({rate}%)"],
        "total": ["Totaal", "Te betalen", "Totaal incl. BTW", "Totaalbedrag"],
        "months": [
            "januari",
            "februari",
            "maart",
            "april",
            "mei",
            "juni",
            "juli",
            "augustus",
            "september",
            "oktober",
            "november",
            "december",
        ],
        "thanks": ["Bedankt voor uw bestelling.", "Betaling binnen 14 dagen."],
    },
    "es": {
        "title": ["FACTURA", "Factura"],
        "number": ["Número de factura:", "Factura n.º", "Nº factura:", "N° de factura:"],
        "date": ["Fecha de factura:", "Fecha:", "Fecha de emisión:"],
        "due": ["Fecha de vencimiento:", "Vencimiento:"],
        "order": ["Fecha de entrega:", "Fecha de pedido:"],
        "bill_to": ["Cliente:", "Facturar a:"],
        "items": ["Descripción", "Cant.", "Precio", "Importe"],
        "subtotal": ["Base imponible", "Subtotal"],
        "tax": ["IVA {rate}%", "IVA ({rate} %)"],
        "total": ["Importe total", "Total a pagar", "Total factura", "Total"],
        "months": [
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ],
        "thanks": ["Gracias por su confianza.", "Pago a 30 días."],
    },
}
LEGAL_FORMS = {
    "en": ["Ltd", "Inc.", "LLC", "PLC", "Limited", ""],
    "de": ["GmbH", "AG", "KG", "GmbH & Co. KG", "e.K.", ""],
    "fr": ["SARL", "SAS", "SA", "EURL", ""],
    "nl": ["B.V.", "N.V.", "V.O.F.", ""],
    "es": ["S.L.", "S.A.", "S.L.U.", ""],
}
TAX_RATES = {"en": [20, 10, 0], "de": [19, 7], "fr": [20, 10], "nl": [21, 9], "es": [21, 10]}
CURRENCIES = {"en": ["USD", "GBP", "EUR"], "de": ["EUR", "CHF"], "fr": ["EUR"], "nl": ["EUR"]}
NAME_WORDS = [
    "Blue",
    "Harbor",
    "Silver",
    "Maple",
    "Northwind",
    "Quartz",
    "Juniper",
    "Copper",
    "Falcon",
    "Meadow",
    "Orion",
    "Atlas",
    "Cedar",
    "Summit",
    "Lumen",
    "Vertex",
    "Nimbus",
    "Coral",
    "Granite",
    "Willow",
    "Beacon",
    "Pioneer",
    "Zephyr",
    "Amber",
]
TRADE_WORDS = [
    "Design",
    "Consulting",
    "Logistics",
    "Software",
    "Studio",
    "Systems",
    "Supplies",
    "Print",
    "Media",
    "Engineering",
    "Analytics",
    "Catering",
    "Robotics",
    "Optics",
    "Textiles",
    "Energy",
    "Labs",
    "Partners",
    "Works",
    "Digital",
]
ITEMS = [
    "Consulting hours",
    "Website hosting",
    "Annual licence",
    "Office chairs",
    "Printer toner",
    "Delivery charge",
    "Maintenance contract",
    "Training session",
    "Cloud storage",
    "Spare parts",
    "Photo shoot",
    "Translation",
    "Catering service",
    "Support plan",
    "Network cabling",
]
STREETS = ["Main Street", "Hauptstraße", "rue de la Paix", "Kerkstraat", "Calle Mayor"]
TOWNS = {
    "en": ["London", "Leeds", "Boston", "Denver"],
    "de": ["Berlin", "Köln", "München", "Leipzig"],
    "fr": ["Lyon", "Paris", "Nantes", "Lille"],
    "nl": ["Utrecht", "Delft", "Leiden", "Zwolle"],
    "es": ["Madrid", "Sevilla", "Valencia", "Bilbao"],
}


def _money(value: Decimal, lang: str, currency: str, rng: random.Random) -> str:
    whole, cents = f"{value:.2f}".split(".")
    groups = f"{int(whole):,}"
    if lang == "en":
        number = f"{groups}.{cents}"
    elif lang == "fr":
        number = f"{groups.replace(',', ' ')},{cents}"
    else:
        number = f"{groups.replace(',', '.')},{cents}"
    symbol = {"USD": "$", "GBP": "£", "EUR": "€", "CHF": "CHF"}[currency]
    style = rng.randrange(3)
    if style == 0 or currency == "CHF":
        return f"{currency} {number}" if lang != "fr" else f"{number} {currency}"
    if lang in ("en", "nl") and style == 1:
        return f"{symbol}{number}" if lang == "en" else f"{symbol} {number}"
    return f"{number} {symbol}"


def _date_text(day: date, lang: str, rng: random.Random) -> str:
    month = LANGUAGES[lang]["months"][day.month - 1]
    styles = {
        "en": [
            f"{month} {day.day}, {day.year}",
            f"{day.day} {month[:3]} {day.year}",
            day.isoformat(),
        ],
        "de": [f"{day:%d.%m.%Y}", f"{day.day}. {month} {day.year}"],
        "fr": [f"{day:%d/%m/%Y}", f"{day.day} {month} {day.year}"],
        "nl": [f"{day:%d-%m-%Y}", f"{day.day} {month} {day.year}"],
        "es": [f"{day:%d/%m/%Y}", f"{day.day} de {month} de {day.year}"],
    }
    return rng.choice(styles[lang])


@dataclass
class Invoice:
    """The true fields of a made-up invoice, in the evaluation folders' format."""

    issuer: str
    invoice_number: str
    date: str
    amount: str
    currency: str

    def to_dict(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "invoice_number": self.invoice_number,
            "date": self.date,
            "amount": self.amount,
            "currency": self.currency,
        }


def make_invoice(
    rng: random.Random, layout: Layout, sideways: bool = False, lang: str | None = None
) -> tuple[bytes, Invoice]:
    """One made-up invoice as a PDF with the given text layer, and its true fields."""
    lang = lang or rng.choice(sorted(LANGUAGES))
    words = LANGUAGES[lang]
    pick = rng.choice
    issuer = f"{pick(NAME_WORDS)} {pick(TRADE_WORDS)}"
    legal = pick(LEGAL_FORMS[lang])
    issuer_full = f"{issuer} {legal}".strip()
    customer = f"{pick(NAME_WORDS)} {pick(TRADE_WORDS)} {pick(LEGAL_FORMS[lang][:-1])}"
    currency = pick(CURRENCIES.get(lang, ["EUR"]))
    prefix = pick(["INV-", "", "F", "RE-", "2024-", "FA"])
    number = f"{prefix}{rng.randrange(1000, 9_999_999)}"
    issued = date(2023, 1, 1) + timedelta(days=rng.randrange(700))
    due = issued + timedelta(days=pick([14, 30]))
    rate = pick(TAX_RATES[lang])
    lines = [
        (pick(ITEMS), rng.randrange(1, 6), Decimal(rng.randrange(500, 90_000)) / 100)
        for _ in range(rng.randrange(1, 5))
    ]
    subtotal = sum((qty * price for _, qty, price in lines), Decimal(0))
    tax = (subtotal * rate / 100).quantize(Decimal("0.01"))
    total = subtotal + tax
    town, street = pick(TOWNS[lang]), pick(STREETS)

    def money(value: Decimal) -> str:
        return _money(value, lang, currency, rng)

    page = PdfPage(width=842, height=595, sideways=True) if sideways else PdfPage()
    left, right = 50.0, page.width - 50
    domain = issuer.lower().replace(" ", "") + pick([".com", ".de", ".fr", ".nl", ".es"])
    arrangement = rng.randrange(3)
    y = 60.0
    # Letterhead: the seller's name large at the top, or a small sender line.
    if arrangement in (0, 1):
        page.add(left, y, issuer_full if rng.random() < 0.7 else issuer, 20)
        y += 18
        page.add(left, y, f"{rng.randrange(1, 99)} {street}, {town}", 9)
        page.add_right(right, y - 18, pick(words["title"]), 16)
    else:
        page.add(left, y, pick(words["title"]), 18)
        y += 22
        page.add(left, y, f"{issuer_full} · {street} {rng.randrange(1, 99)} · {town}", 8)
    y += 30
    # Customer block
    page.add(left, y, pick(words["bill_to"]), 9)
    page.add(left, y + 13, customer)
    page.add(left, y + 26, f"{rng.randrange(1, 200)} {pick(STREETS)}")
    page.add(left, y + 39, pick(TOWNS[lang]))
    date_label, number_label = pick(words["date"]), pick(words["number"])
    issued_text, due_text = _date_text(issued, lang, rng), _date_text(due, lang, rng)
    if arrangement == 1:  # labels heading a row, values in the row below
        y += 70
        columns = [
            (number_label.rstrip(": "), number),
            (date_label.rstrip(": "), issued_text),
            (pick(words["due"]).rstrip(": "), due_text),
        ]
        for i, (head, value) in enumerate(columns):
            x = left + i * (right - left) / 3
            page.add(x, y, head, 9)
            page.add(x, y + 14, value)
        y += 40
    else:  # "label value" lines beside the customer block
        meta_x = (left + right) / 2 + 40
        rows = [(number_label, number), (date_label, issued_text), (pick(words["due"]), due_text)]
        if rng.random() < 0.4:
            order_day = issued - timedelta(days=rng.randrange(1, 20))
            rows.append((pick(words["order"]), _date_text(order_day, lang, rng)))
        for i, (head, value) in enumerate(rows):
            page.add(meta_x, y + 13 * i, f"{head} {value}")
        y += 75
    # Items
    head = words["items"]
    columns = [left, left + 260, left + 320, right]
    page.add(columns[0], y, head[0], 9)
    page.add(columns[1], y, head[1], 9)
    page.add(columns[2], y, head[2], 9)
    page.add_right(columns[3], y, head[3], 9)
    for item, qty, price in lines:
        y += 15
        page.add(columns[0], y, item)
        page.add(columns[1], y, str(qty))
        page.add(columns[2], y, money(price))
        page.add_right(columns[3], y, money(qty * price))
    # Totals, right-aligned under the amounts
    y += 30
    label_x = right - 200
    tax_label = pick(words["tax"]).format(rate=rate)
    for text, value, size in (
        (pick(words["subtotal"]), subtotal, 10),
        (tax_label, tax, 10),
        (pick(words["total"]), total, 12),
    ):
        page.add(label_x, y, text, size)
        page.add_right(right, y, money(value), size)
        y += 16
    y += 20
    page.add(left, y, pick(words["thanks"]), 9)
    footer = f"{issuer_full} · {town} · www.{domain} · info@{domain}"
    page.add(left, page.height - 40, footer, 7)
    truth = Invoice(issuer_full, number, issued.isoformat(), f"{total:.2f}", currency)
    return write_pdf([page], layout), truth


def write_invoice_set(
    folder: Path, count: int, seed: int = 7, layout: Layout | None = None
) -> list[Path]:
    """``count`` invoices as ``NNN.pdf`` + ``NNN.json`` (the ``invoices`` evaluation
    format).  Without ``layout``, each text-layer layout in turn, every fourth page
    stored sideways."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = []
    for i in range(count):
        chosen = layout or LAYOUTS[i % len(LAYOUTS)]
        pdf, truth = make_invoice(rng, chosen, sideways=i % 4 == 3)
        path = folder / f"{i:03d}-{chosen}.pdf"
        path.write_bytes(pdf)
        path.with_suffix(".json").write_text(json.dumps(truth.to_dict(), ensure_ascii=False))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write made-up invoices for extraction_eval.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--layout", choices=LAYOUTS, default=None, help="one layout for all")
    args = parser.parse_args(argv)
    written = write_invoice_set(args.folder, args.count, args.seed, args.layout)
    print(f"Wrote {len(written)} invoices to {args.folder}")


if __name__ == "__main__":
    main()
