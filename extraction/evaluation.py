"""Measure the extraction pipeline on the evaluation folders in ``../shared/eval``.

Every figure comes from :func:`extraction.pipeline.extract`, the same call the API
makes.  Each ``evaluate_*`` function returns ``{"dataset", "metrics", "rows"}``;
:func:`evaluate` picks the right one from the folder's content (or runs all of
them when given the parent folder).

    from extraction.evaluation import evaluate
    report = evaluate("../shared/eval/sroie", limit=20)
"""

from __future__ import annotations

import difflib
import json
import re
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from extraction.pipeline import ExtractionError, Limits, extract
from extraction.pipeline.entities import parse_number
from extraction.pipeline.fields import LEGAL_FORM, detect_doc_type
from extraction.pipeline.receipts import receipt_fields
from extraction.pipeline.result import Line
from extraction.pipeline.text import _page_from_lines
from extraction.training import transcript_lines

Progress = Callable[[str], None] | None

DATASETS = ("sroie", "invoices", "pdftext", "funsd")


# --------------------------------------------------------------------------- helpers


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 4)


def timing_metrics(seconds: list[float]) -> dict:
    return {
        "seconds_p50": percentile(seconds, 0.5),
        "seconds_p95": percentile(seconds, 0.95),
        "seconds_mean": round(statistics.fmean(seconds), 4) if seconds else None,
    }


def text_similarity(a: str, b: str) -> float:
    """Normalised similarity in [0, 1]: 1 - InDel distance / (len(a) + len(b)).

    This is what ``Levenshtein.ratio`` (used by py-pdf/benchmarks) computes.
    rapidfuzz (MIT) computes it fast; without it, difflib's ratio on lines and
    then characters is used (same definition, slower, can differ slightly).
    """
    try:
        from rapidfuzz.distance import Indel

        return Indel.normalized_similarity(a, b)
    except ImportError:
        return _difflib_similarity(a, b)


def similarity_method() -> str:
    try:
        import rapidfuzz  # noqa: F401

        return "indel-ratio (rapidfuzz; = Levenshtein.ratio as in py-pdf/benchmarks)"
    except ImportError:
        return "difflib line-aligned ratio (install rapidfuzz for the benchmark's metric)"


def _difflib_similarity(a: str, b: str) -> float:
    """2·matches / (len a + len b), aligning lines first so a book takes seconds, not hours."""
    if not a and not b:
        return 1.0
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    matches = 0
    lines = difflib.SequenceMatcher(None, a_lines, b_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in lines.get_opcodes():
        if tag == "equal":
            matches += sum(len(line) for line in a_lines[i1:i2])
        elif tag == "replace":
            chars = difflib.SequenceMatcher(
                None, "".join(a_lines[i1:i2]), "".join(b_lines[j1:j2]), autojunk=False
            )
            matches += sum(block.size for block in chars.get_matching_blocks())
    return 2 * matches / (len(a) + len(b))


def _progress(progress: Progress, message: str) -> None:
    if progress:
        progress(message)


class CachedOCR:
    """The configured OCR engine, with its raw output kept in a folder (one JSON file per
    image, keyed by a hash of the pixels), so that a second evaluation of the same images
    gives the same reading without running OCR again. The pipeline's own steps after the
    recogniser (:func:`tidy_reading`, row grouping) still run every time."""

    name = "cached"

    def __init__(self, folder: Path):
        from extraction.pipeline.ocr import get_engine

        self.folder = folder
        self.inner = get_engine()
        self.name = f"{self.inner.name} (cached in {folder})"

    def recognize(self, image, timeout: float | None = None) -> list[Line]:
        import hashlib

        from extraction.pipeline.ocr import tidy_reading
        from extraction.training import segment_dict, segment_line

        key = hashlib.sha256(image.tobytes() + str(image.size).encode()).hexdigest()[:32]
        path = self.folder / f"{key}.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
        else:
            read = getattr(self.inner, "read_raw", None)
            segments = read(image) if read else self.inner.recognize(image, timeout)
            data = [segment_dict(s) for s in segments]
            self.folder.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(data), encoding="utf-8")
        return tidy_reading([segment_line(d) for d in data])


def use_ocr_cache(folder: Path | None) -> str | None:
    """Register a :class:`CachedOCR` for ``folder``; returns the engine name to pass on."""
    if folder is None:
        return None
    from extraction.pipeline import ocr

    engine = CachedOCR(folder)  # outside the lock: it asks get_engine() for the real one
    with ocr._engines_lock:
        ocr._engines["cached"] = engine
    return "cached"


_ocr_engine: str | None = None  # set by evaluate(ocr_cache=...)


def _run(data: bytes, filename: str, **kwargs):
    t0 = time.perf_counter()
    try:
        result = extract(data, filename, ocr_engine=_ocr_engine, **kwargs)
        error = None
    except ExtractionError as exc:
        result, error = None, f"{exc.code}: {exc.message}"
    return result, error, time.perf_counter() - t0


# --------------------------------------------------------------------------- receipts


def sroie_norm(value) -> str:
    """SROIE convention: upper case, whitespace runs collapsed to one space."""
    return re.sub(r"\s+", " ", str(value or "")).strip().upper()


def sroie_nospace(value) -> str:
    return re.sub(r"\s+", "", str(value or "")).upper()


SROIE_FIELDS = ("company", "date", "address", "total")


def evaluate_sroie(
    folder: Path, limit: int | None = None, progress: Progress = None, limits: Limits | None = None
) -> dict:
    images = sorted((folder / "img").glob("*.jpg"))
    if limit:
        images = images[:limit]
    rows, seconds = [], []
    right = Counter()
    right_nospace = Counter()
    total_as_number = 0
    auto_right = 0
    for image in images:
        truth = json.loads((folder / "key" / f"{image.stem}.json").read_text())
        result, error, dt = _run(image.read_bytes(), image.name, doc_type="receipt", limits=limits)
        seconds.append(dt)
        got = {f: (result.value(f) if result else None) for f in SROIE_FIELDS}
        row = {"id": image.stem, "seconds": round(dt, 3), "error": error}
        for f in SROIE_FIELDS:
            ok = sroie_norm(got[f]) == sroie_norm(truth.get(f))
            right[f] += ok
            right_nospace[f] += sroie_nospace(got[f]) == sroie_nospace(truth.get(f))
            row[f] = {"got": got[f], "want": truth.get(f), "ok": ok}
        total_as_number += amount_equal(
            result.field("total").normalized if result and result.field("total") else None,
            parse_number(str(truth.get("total") or "").replace("RM", "")),
        )
        if result:
            row["auto_doc_type"] = detect_doc_type(result.pages)
            auto_right += row["auto_doc_type"] == "receipt"
        rows.append(row)
        _progress(
            progress,
            f"sroie {image.stem}: "
            + " ".join(f"{f}={'ok' if row[f]['ok'] else 'x'}" for f in SROIE_FIELDS)
            + f" {dt:.2f}s",
        )
    n = len(images) or 1
    accuracy = {f: round(right[f] / n, 4) for f in SROIE_FIELDS}
    nospace = {f: round(right_nospace[f] / n, 4) for f in SROIE_FIELDS}
    metrics = {
        "documents": len(images),
        "accuracy": accuracy,
        "mean_accuracy": round(sum(accuracy.values()) / len(SROIE_FIELDS), 4),
        # The exact score counts "RM8.60" against a true "8.60" as wrong; this is the total
        # compared as a number, what an accounting import would check.
        "total_as_number": round(total_as_number / n, 4),
        "accuracy_ignoring_spaces": nospace,
        "mean_accuracy_ignoring_spaces": round(sum(nospace.values()) / len(SROIE_FIELDS), 4),
        "auto_doc_type_receipt": round(auto_right / n, 4),
        **timing_metrics(seconds),
        "peak_rss_mb": peak_rss_mb(),
    }
    metrics.update(sroie_transcript_metrics(folder, [image.stem for image in images]))
    return {"dataset": "sroie", "metrics": metrics, "rows": rows}


WHOLE_LINE_FIELDS = ("company", "address")


def sroie_transcript_metrics(folder: Path, ids: list[str]) -> dict:
    """Two reference points that separate reading errors from the field rules and the
    ground truth's own conventions, both from the human transcripts in ``box/``:

    - ``transcript_reachable``: share of true names and addresses equal to some run of
      consecutive transcript lines joined by spaces (what a perfect reader could copy
      verbatim; dates and totals are parts of lines, so they are not counted);
    - ``transcript_reachable_span``: the same with a run that may start and end inside a
      line (a label before the address, a full stop the key leaves out);
    - ``fields_from_transcripts``: accuracy of the same receipt rules fed those
      transcripts instead of OCR output.

    These are not the headline figures (those come from ``extract()`` on the images).
    """
    done = [i for i in ids if (folder / "box" / f"{i}.csv").exists()]
    if not done:
        return {}
    reachable, spans, right = Counter(), Counter(), Counter()
    for stem in done:
        truth = json.loads((folder / "key" / f"{stem}.json").read_text())
        lines = transcript_lines(folder / "box" / f"{stem}.csv")
        page = _page_from_lines(1, lines, None, None, "transcript")
        got = {f.name: f.value for f in receipt_fields([page])}
        texts = [sroie_norm(ln.text) for ln in lines]
        for f in SROIE_FIELDS:
            want = sroie_norm(truth.get(f))
            right[f] += sroie_norm(got.get(f)) == want
            reachable[f] += f in WHOLE_LINE_FIELDS and any(
                sroie_norm(" ".join(texts[i:j])) == want
                for i in range(len(texts))
                for j in range(i + 1, min(len(texts), i + 8) + 1)
            )
            spans[f] += f in WHOLE_LINE_FIELDS and bool(want) and want in " ".join(texts)
    n = len(done)
    from_transcripts = {f: round(right[f] / n, 4) for f in SROIE_FIELDS}
    return {
        "transcript_reachable": {f: round(reachable[f] / n, 4) for f in WHOLE_LINE_FIELDS},
        "transcript_reachable_span": {f: round(spans[f] / n, 4) for f in WHOLE_LINE_FIELDS},
        "fields_from_transcripts": from_transcripts,
        "mean_fields_from_transcripts": round(
            sum(from_transcripts.values()) / len(SROIE_FIELDS), 4
        ),
    }


# --------------------------------------------------------------------------- invoices


def issuer_key(value) -> str:
    """Issuer names compare case-insensitively, without legal form or punctuation."""
    text = LEGAL_FORM.sub("", str(value or ""))
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


def number_key(value) -> str:
    return re.sub(r"[\s#]+", "", str(value or "")).casefold()


def amount_equal(got, want) -> bool:
    try:
        return Decimal(str(got)) == Decimal(str(want))
    except (InvalidOperation, ValueError, TypeError):
        return False


INVOICE_FIELDS = ("issuer", "date", "amount", "invoice_number")


def evaluate_invoices(
    folder: Path, limit: int | None = None, progress: Progress = None, limits: Limits | None = None
) -> dict:
    pdfs = sorted(folder.glob("*.pdf"))
    if limit:
        pdfs = pdfs[:limit]
    rows, seconds = [], []
    right = Counter()
    currency_right = auto_right = 0
    for pdf in pdfs:
        truth = json.loads(pdf.with_suffix(".json").read_text())
        truth = truth[0] if isinstance(truth, list) else truth
        result, error, dt = _run(pdf.read_bytes(), pdf.name, doc_type="invoice", limits=limits)
        seconds.append(dt)
        field = {f.name: f for f in result.fields} if result else {}
        checks = {
            "issuer": lambda f, t=truth: issuer_key(f.value) == issuer_key(t.get("issuer")),
            "date": lambda f, t=truth: f.normalized == t.get("date"),
            "amount": lambda f, t=truth: amount_equal(f.normalized, t.get("amount")),
            "invoice_number": lambda f, t=truth: (
                number_key(f.value) == number_key(t.get("invoice_number"))
            ),
        }
        row = {"id": pdf.stem, "seconds": round(dt, 3), "error": error}
        for name, check in checks.items():
            f = field.get(name)
            ok = bool(f is not None and f.value is not None and check(f))
            right[name] += ok
            row[name] = {"got": f.normalized if f else None, "want": truth.get(name), "ok": ok}
        cur = field.get("currency")
        row["currency"] = {
            "got": cur.value if cur else None,
            "want": truth.get("currency"),
            "ok": bool(cur and cur.value == truth.get("currency")),
        }
        currency_right += row["currency"]["ok"]
        if result:
            row["auto_doc_type"] = detect_doc_type(result.pages)
            auto_right += row["auto_doc_type"] == "invoice"
        rows.append(row)
        _progress(
            progress,
            f"invoice {pdf.stem}: "
            + " ".join(f"{f}={'ok' if row[f]['ok'] else 'x'}" for f in INVOICE_FIELDS),
        )
    n = len(pdfs) or 1
    accuracy = {f: round(right[f] / n, 4) for f in INVOICE_FIELDS}
    metrics = {
        "documents": len(pdfs),
        "accuracy": accuracy,
        "fields_right": sum(right.values()),
        "fields_total": len(pdfs) * len(INVOICE_FIELDS),
        "field_accuracy": round(sum(right.values()) / (n * len(INVOICE_FIELDS)), 4),
        "currency_accuracy": round(currency_right / n, 4),
        "auto_doc_type_invoice": round(auto_right / n, 4),
        **timing_metrics(seconds),
        "peak_rss_mb": peak_rss_mb(),
    }
    return {"dataset": "invoices", "metrics": metrics, "rows": rows}


# --------------------------------------------------------------------------- PDF text


def evaluate_pdftext(
    folder: Path, limit: int | None = None, progress: Progress = None, limits: Limits | None = None
) -> dict:
    rows = []
    scores = []
    total_pages = 0
    total_seconds = 0.0
    for pdf in sorted(folder.glob("*.pdf"))[: limit or None]:
        reference = pdf.with_suffix(".txt")
        if not reference.exists():
            continue
        result, error, dt = _run(
            pdf.read_bytes(),
            pdf.name,
            doc_type="generic",
            limits=limits or Limits(max_pages=10_000),
        )
        text = "\n\n".join(p.text for p in result.pages) if result else ""
        score = text_similarity(text, reference.read_text())
        pages = len(result.pages) if result else 0
        total_pages += pages
        total_seconds += dt
        scores.append(score)
        rows.append(
            {
                "id": pdf.stem,
                "pages": pages,
                "seconds": round(dt, 3),
                "pages_per_second": round(pages / dt, 1) if dt else None,
                "similarity": round(score, 4),
                "error": error,
            }
        )
        _progress(
            progress, f"pdftext {pdf.stem}: similarity {score:.4f}, {pages} pages in {dt:.2f}s"
        )
    metrics = {
        "documents": len(rows),
        "similarity": round(statistics.fmean(scores), 4) if scores else None,
        "similarity_method": similarity_method(),
        "pages": total_pages,
        "pages_per_second": round(total_pages / total_seconds, 1) if total_seconds else None,
        "peak_rss_mb": peak_rss_mb(),
    }
    return {"dataset": "pdftext", "metrics": metrics, "rows": rows}


# --------------------------------------------------------------------------- FUNSD


def _words(text: str) -> list[str]:
    out = []
    for token in text.split():
        token = re.sub(r"^\W+|\W+$", "", token.casefold())
        if token:
            out.append(token)
    return out


def evaluate_funsd(
    folder: Path, limit: int | None = None, progress: Progress = None, limits: Limits | None = None
) -> dict:
    images = sorted((folder / "images").glob("*.png"))
    if limit:
        images = images[:limit]
    rows, seconds = [], []
    found_total = want_total = 0
    for image in images:
        annotation = json.loads((folder / "annotations" / f"{image.stem}.json").read_text())
        wanted = Counter(
            w
            for item in annotation.get("form", [])
            for word in item.get("words", [])
            for w in _words(word.get("text", ""))
        )
        result, error, dt = _run(image.read_bytes(), image.name, doc_type="generic", limits=limits)
        seconds.append(dt)
        got = Counter(_words(result.text)) if result else Counter()
        found = sum((wanted & got).values())
        want = sum(wanted.values())
        found_total += found
        want_total += want
        rows.append(
            {
                "id": image.stem,
                "seconds": round(dt, 3),
                "words": want,
                "found": found,
                "recall": round(found / want, 4) if want else None,
                "error": error,
            }
        )
        _progress(progress, f"funsd {image.stem}: recall {found}/{want} {dt:.2f}s")
    recalls = [r["recall"] for r in rows if r["recall"] is not None]
    metrics = {
        "documents": len(images),
        "word_recall": round(found_total / want_total, 4) if want_total else None,
        "word_recall_mean_per_document": round(statistics.fmean(recalls), 4) if recalls else None,
        **timing_metrics(seconds),
        "peak_rss_mb": peak_rss_mb(),
    }
    return {"dataset": "funsd", "metrics": metrics, "rows": rows}


# --------------------------------------------------------------------------- dispatch

EVALUATORS = {
    "sroie": evaluate_sroie,
    "invoices": evaluate_invoices,
    "pdftext": evaluate_pdftext,
    "funsd": evaluate_funsd,
}


def detect_dataset(folder: Path) -> str | None:
    if (folder / "img").is_dir() and (folder / "key").is_dir():
        return "sroie"
    if (folder / "annotations").is_dir() and (folder / "images").is_dir():
        return "funsd"
    pdfs = list(folder.glob("*.pdf"))
    if pdfs and all(p.with_suffix(".txt").exists() for p in pdfs):
        return "pdftext"
    if pdfs and any(p.with_suffix(".json").exists() for p in pdfs):
        return "invoices"
    return None


def evaluate(
    folder: str | Path,
    limit: int | None = None,
    progress: Progress = None,
    limits: Limits | None = None,
    ocr_cache: Path | None = None,
) -> dict:
    """Evaluate one dataset folder, or every known dataset under a parent folder.

    Returns ``{"dataset", "metrics", "rows"}`` for one folder, or
    ``{"dataset": "all", "reports": [...]}`` for a parent folder. ``ocr_cache``: keep the
    recogniser's output there and reuse it (same figures, no second OCR pass; the
    seconds per document then measure everything but OCR).
    """
    global _ocr_engine
    _ocr_engine = use_ocr_cache(ocr_cache)
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    kind = detect_dataset(folder)
    if kind:
        return EVALUATORS[kind](folder, limit=limit, progress=progress, limits=limits)
    reports = []
    for name in DATASETS:
        sub = folder / name
        if sub.is_dir() and detect_dataset(sub) == name:
            reports.append(EVALUATORS[name](sub, limit=limit, progress=progress, limits=limits))
    if not reports:
        raise ValueError(f"{folder} holds none of the datasets {', '.join(DATASETS)}")
    return {"dataset": "all", "reports": reports}


def format_report(report: dict, rows: bool = True) -> str:
    """Human-readable text: metrics first, then one line per document."""
    if report.get("dataset") == "all":
        return "\n\n".join(format_report(r, rows) for r in report["reports"])
    lines = [f"== {report['dataset']} =="]
    for key, value in report["metrics"].items():
        if isinstance(value, dict):
            value = ", ".join(
                f"{k}={v:.1%}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()
            )
        lines.append(f"{key}: {value}")
    if rows:
        lines.append("-- per document --")
        for row in report["rows"]:
            parts = [row["id"]]
            for key, value in row.items():
                if key in ("id",):
                    continue
                if isinstance(value, dict) and "ok" in value:
                    parts.append(
                        f"{key}={'ok' if value['ok'] else 'x'}"
                        + (
                            ""
                            if value["ok"]
                            else f" (got {value['got']!r}, want {value['want']!r})"
                        )
                    )
                elif value is not None:
                    parts.append(f"{key}={value}")
            lines.append("  " + " | ".join(parts))
    return "\n".join(lines)
