"""Fit the receipt model (``extraction/pipeline/receipts.py``) on labelled receipts.

Training data, all read from disk at run time (none of it ships in the project):

- ``<train>/sroie/box/NNN.csv`` and ``key/NNN.json``: the line transcripts (8 corner
  coordinates and the text of each line) and the four true fields of each receipt;
- ``<train>/sroie/img/NNN.jpg``: images of some of them. Each is read by the same OCR the
  pipeline runs, so the model also learns from lines as OCR splits and misreads them;
  OCR results are cached in a folder of JSON files so refits do not read them again;
- optionally, the workspace's own corrected documents (``--include-corrections``).

Each line of a receipt is labelled company, address or other by aligning it with the true
strings; each date and amount is labelled by comparing its value. The same input gives the
same model bytes: LightGBM runs single-threaded and deterministic, the samples are read
in a fixed order, and folds are chosen by a hash of the store's name.

    from extraction.training import load_sroie, fit, save
    samples = load_sroie(Path("../shared/train/sroie"), ocr_cache=Path("var/ocr-cache"))
    save(fit(samples), Path("var/extraction-model"))
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from extraction.pipeline import receipts
from extraction.pipeline.dates import find_dates
from extraction.pipeline.entities import parse_number
from extraction.pipeline.fields import Row, rows_of
from extraction.pipeline.ocr import get_engine, group_rows, tidy_reading
from extraction.pipeline.result import Line, Page

Progress = Callable[[str], None] | None

FIELDS = ("company", "address", "date", "total")
LINE_LABELS = {name: i for i, name in enumerate(receipts.LINE_CLASSES)}

# LightGBM settings: small trees, single thread and fixed seeds, so a refit on the same
# data writes the same bytes. Chosen on store-split cross-validation of the training set.
PARAMS = {
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.8,
    "feature_fraction_seed": 7,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
    "verbosity": -1,
}
ROUNDS = {"lines": 150, "dates": 100}
L2 = 1.0  # the totals model's penalty (scikit-learn's default C=1 for the same loss)
OCR_WEIGHT = 2.0  # an OCR'd receipt counts twice: it is what the model meets at run time


@dataclass
class Table:
    features: list[dict[str, float]]
    labels: list[int]
    weights: list[float]


@dataclass
class Sample:
    """One receipt as the pipeline sees it, with its true fields."""

    doc_id: str
    source: str  # "transcript" | "ocr" | "correction"
    store: str
    rows: list[Row]
    truth: dict[str, str]
    tables: dict[str, Table] | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------- reading


def transcript_lines(path: Path) -> list[Line]:
    """The dataset's line transcripts (``box/NNN.csv``: 8 corner coordinates, text)."""
    segments = []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for cells in csv.reader(fh):
            if len(cells) < 9:
                continue
            try:
                xs, ys = [float(v) for v in cells[0:8:2]], [float(v) for v in cells[1:8:2]]
            except ValueError:
                continue
            text = ",".join(cells[8:]).strip()
            if text:
                segments.append(Line(text=text, box=(min(xs), min(ys), max(xs), max(ys))))
    return group_rows(segments)


def ocr_segments(image_bytes: bytes, cache: Path | None, key: str) -> dict:
    """The OCR engine's raw segments for an image, from the cache when it has them."""
    path = cache / f"{key}.json" if cache else None
    if path and path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    import io

    from PIL import Image, ImageOps

    image = ImageOps.exif_transpose(Image.open(io.BytesIO(image_bytes))).convert("RGB")
    engine = get_engine()
    read = getattr(engine, "read_raw", engine.recognize)
    segments = read(image)
    data = {
        "width": image.width,
        "height": image.height,
        "segments": [segment_dict(s) for s in segments],
    }
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data), encoding="utf-8")
    return data


def segment_dict(line: Line) -> dict:
    """A recogniser segment as kept in an OCR cache."""
    return {"text": line.text, "box": list(line.box), "score": line.score}


def segment_line(data: dict) -> Line:
    return Line(data["text"], tuple(data["box"]), data["score"])


def page_of(lines: list[Line], width: float | None, height: float | None, method: str) -> Page:
    text = "\n".join(ln.text for ln in lines)
    return Page(number=1, text=text, width=width, height=height, method=method, lines=lines)


def ocr_page(data: dict) -> Page:
    """The page the pipeline builds from these segments (same tidying and row grouping)."""
    segments = [segment_line(s) for s in data["segments"]]
    lines = group_rows(tidy_reading(segments))
    return page_of(lines, data["width"], data["height"], "ocr")


def store_of(truth: dict) -> str:
    return re.sub(r"\s+", " ", str(truth.get("company") or "")).strip().upper()


def load_sroie(
    folder: Path,
    ocr_cache: Path | None = None,
    with_ocr: bool = True,
    progress: Progress = None,
    cached_only: bool = False,
) -> list[Sample]:
    """Transcript samples for every receipt, and OCR samples for those with an image
    (``cached_only``: only the images whose OCR is already in the cache)."""
    samples = []
    for key_path in sorted((folder / "key").glob("*.json")):
        stem = key_path.stem
        truth = json.loads(key_path.read_text(encoding="utf-8"))
        box = folder / "box" / f"{stem}.csv"
        if box.is_file():
            page = page_of(transcript_lines(box), None, None, "transcript")
            page.width, page.height = _extent(page.lines)
            samples.append(Sample(stem, "transcript", store_of(truth), rows_of([page]), truth))
        image = folder / "img" / f"{stem}.jpg"
        cached = ocr_cache is not None and (ocr_cache / f"{stem}.json").is_file()
        if with_ocr and image.is_file() and (cached or not cached_only):
            if progress:
                progress(f"OCR {image.name}")
            page = ocr_page(ocr_segments(image.read_bytes(), ocr_cache, stem))
            samples.append(Sample(stem, "ocr", store_of(truth), rows_of([page]), truth))
    return samples


def corrected_samples(progress: Progress = None) -> list[Sample]:
    """Receipts of this installation that a person corrected (the API's PATCH), read again
    from their stored files. A corrected document counts as reviewed: its corrected values
    and the values it kept are its true fields. Nothing leaves the machine."""
    from extraction.models import Document, Status
    from extraction.pipeline import ExtractionError, extract

    samples = []
    documents = (
        Document.objects.filter(status=Status.SUCCEEDED, result__doc_type="receipt")
        .exclude(corrections={})
        .order_by("id")
    )
    for document in documents:
        truth = {name: document.field_value(name) for name in FIELDS}
        truth = {k: str(v) for k, v in truth.items() if v not in (None, "")}
        try:
            with document.file.open("rb") as fh:
                data = fh.read()
            result = extract(data, document.original_name, doc_type="receipt")
        except (OSError, ExtractionError) as exc:
            if progress:
                progress(f"skipped {document.public_id}: {exc}")
            continue
        rows = rows_of(result.pages)
        samples.append(Sample(document.public_id, "correction", store_of(truth), rows, truth))
    return samples


def _extent(lines: list[Line]) -> tuple[float, float]:
    boxes = [ln.box for ln in lines if ln.box]
    if not boxes:
        return 1.0, 1.0
    # A transcript has no page size: the text's extent plus a margin stands in for it.
    return max(b[2] for b in boxes) * 1.05, max(b[3] for b in boxes) * 1.05


# ----------------------------------------------------------------------------- labels


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", str(text or "").upper())


def _covered(part: str, whole: str) -> int:
    """How many characters of ``part`` appear, in order, in ``whole``."""
    matcher = difflib.SequenceMatcher(None, part, whole, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks() if block.size >= 2)


def _best_run(flags: list[int], weights: list[int]) -> set[int]:
    """The run of consecutive flagged lines with the most matched characters."""
    best: list[int] = []
    run: list[int] = []
    for i, flag in enumerate([*flags, 0]):
        if flag:
            run.append(i)
            continue
        if sum(weights[j] for j in run) > sum(weights[j] for j in best):
            best = run
        run = []
    return set(best)


def line_labels(rows: list[Row], truth: dict) -> list[int]:
    """0 other, 1 company, 2 address, from how much of each line the true strings hold."""
    wanted = {name: _alnum(truth.get(name)) for name in ("company", "address")}
    flags = {name: [0] * len(rows) for name in wanted}
    weights = {name: [0] * len(rows) for name in wanted}
    for i, row in enumerate(rows):
        texts = {"company": _alnum(receipts.clean_company(row.text)), "address": _alnum(row.text)}
        covered = {
            name: _covered(texts[name], want) if want and len(texts[name]) >= 2 else 0
            for name, want in wanted.items()
        }
        name = max(covered, key=lambda n: covered[n] / max(1, len(texts[n])))
        text = texts[name]
        if not text:
            continue
        short_ok = len(text) >= 4 or text in wanted[name]
        if covered[name] >= 0.75 * len(text) and short_ok:
            flags[name][i] = 1
            weights[name][i] = covered[name]
    labels = [0] * len(rows)
    for name in ("address", "company"):
        for i in _best_run(flags[name], weights[name]):
            labels[i] = LINE_LABELS[name]
    return labels


def truth_date(truth: dict):
    found = find_dates(str(truth.get("date") or ""))
    return found[0].date if found else None


def truth_total(truth: dict) -> Decimal | None:
    return parse_number(str(truth.get("total") or "").replace("RM", ""))


# ----------------------------------------------------------------------------- matrices


def sample_tables(s: Sample) -> dict[str, Table]:
    """Feature rows and labels of one receipt (computed once: folds reuse them)."""
    if s.tables is not None:
        return s.tables
    weight = OCR_WEIGHT if s.source != "transcript" else 1.0
    lines = receipts.line_features(s.rows)
    date, total = truth_date(s.truth), truth_total(s.truth)
    dates = receipts.date_candidates(s.rows, lines)
    totals = receipts.total_candidates(s.rows, lines)
    out = {
        "lines": Table(lines, line_labels(s.rows, s.truth), [weight] * len(lines)),
        "dates": Table(
            [f for *_, f in dates],
            [int(m.date == date) for _, m, _ in dates],
            [weight] * len(dates),
        ),
        "totals": Table(
            [f for *_, f in totals],
            [int(value == total) for _, _, value, _ in totals],
            [weight] * len(totals),
        ),
    }
    s.tables = out
    return out


def tables(samples: Iterable[Sample]) -> dict[str, Table]:
    """Feature rows and labels for the three boosters."""
    out = {kind: Table([], [], []) for kind in ("lines", "dates", "totals")}
    for s in samples:
        for kind, table in sample_tables(s).items():
            if kind in out:
                out[kind].features += table.features
                out[kind].labels += table.labels
                out[kind].weights += table.weights
    return out


def _fit_one(kind: str, table: Table, names: list[str], params: dict, rounds: int):
    import lightgbm
    import numpy as np

    x = np.array([[f.get(n, 0.0) for n in names] for f in table.features], dtype=np.float64)
    y = np.array(table.labels)
    objective = (
        {"objective": "multiclass", "num_class": len(receipts.LINE_CLASSES)}
        if kind == "lines"
        else {"objective": "binary"}
    )
    data = lightgbm.Dataset(
        x, y, weight=np.array(table.weights), feature_name=names, free_raw_data=True
    )
    return lightgbm.train({**params, **objective}, data, num_boost_round=rounds)


def fit_linear(table: Table, names: list[str], l2: float = L2) -> receipts.LinearScorer:
    """Weighted logistic regression with an L2 penalty, by Newton's method: no random
    start, so the same table gives the same coefficients."""
    import numpy as np

    x = np.array([[f.get(n, 0.0) for n in names] for f in table.features], dtype=np.float64)
    y = np.array(table.labels, dtype=np.float64)
    w = np.array(table.weights, dtype=np.float64)
    mean = x.mean(axis=0) if len(x) else np.zeros(len(names))
    scale = x.std(axis=0) if len(x) else np.ones(len(names))
    scale[scale == 0] = 1.0
    xs = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    beta = np.zeros(xs.shape[1])
    penalty = np.full(xs.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not penalised
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-(xs @ beta)))
        gradient = xs.T @ (w * (p - y)) + penalty * beta
        hessian = (xs * (w * p * (1 - p))[:, None]).T @ xs + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    return receipts.LinearScorer(
        mean=mean.tolist(), scale=scale.tolist(), coef=beta[:-1].tolist(), intercept=beta[-1]
    )


def fit(samples: list[Sample], params: dict | None = None) -> receipts.ReceiptModel:
    params = {**PARAMS, **(params or {})}
    data = tables(samples)
    boosters, features = {}, {}
    for kind, table in data.items():
        names = list(table.features[0]) if table.features else []
        features[kind] = names
        if kind == "totals":
            boosters[kind] = fit_linear(table, names)
        else:
            boosters[kind] = _fit_one(kind, table, names, params, ROUNDS[kind])
    meta = {
        "features": features,
        "thresholds": {"company": 0.5, "address": 0.5},
        "classes": list(receipts.LINE_CLASSES),
        "trained_on": dict(sorted(Counter(s.source for s in samples).items())),
        "receipts": len({(s.source, s.doc_id) for s in samples}),
    }
    return receipts.ReceiptModel(boosters["lines"], boosters["dates"], boosters["totals"], meta)


def save(model: receipts.ReceiptModel, directory: Path) -> dict[str, int]:
    """Write the model's files (LightGBM text dumps, JSON); returns their sizes."""
    directory.mkdir(parents=True, exist_ok=True)
    sizes = {}
    texts = {
        "lines.txt": model.lines.model_to_string(),
        "dates.txt": model.dates.model_to_string(),
        "totals.json": model.totals.to_json(),
    }
    for name, text in texts.items():
        (directory / name).write_text(text, encoding="utf-8")
        sizes[name] = len(text.encode())
    meta = json.dumps(model.meta, indent=1, sort_keys=True) + "\n"
    (directory / "meta.json").write_text(meta, encoding="utf-8")
    sizes["meta.json"] = len(meta.encode())
    return sizes


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for name in receipts.MODEL_FILES:
        h.update((directory / name).read_bytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- scoring


def sroie_norm(value) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip().upper()


def score(model: receipts.ReceiptModel, samples: Iterable[Sample]) -> dict:
    """SROIE exact accuracy per field (and the total compared as a number)."""
    right: Counter = Counter()
    n = 0
    for s in samples:
        n += 1
        got = (
            {f.name: f for f in receipts.receipt_fields([s.rows[0].page], model)} if s.rows else {}
        )
        for name in FIELDS:
            f = got.get(name)
            right[name] += sroie_norm(f.value if f else None) == sroie_norm(s.truth.get(name))
        f = got.get("total")
        want = truth_total(s.truth)
        right["total_number"] += bool(f and f.normalized and want is not None) and (
            Decimal(str(f.normalized)) == want
        )
    acc = {k: round(right[k] / n, 4) if n else 0.0 for k in (*FIELDS, "total_number")}
    acc["mean"] = round(sum(acc[k] for k in FIELDS) / len(FIELDS), 4)
    acc["receipts"] = n
    return acc


def fold_of(store: str, folds: int) -> int:
    return zlib.crc32(store.encode()) % folds


def cross_validate(samples: list[Sample], folds: int, progress: Progress = None) -> dict:
    """Fit on the other stores, score each store's receipts: every receipt is scored by
    a model that never saw its store. Returns scores on OCR'd and on transcript samples."""
    by_source: dict[str, list] = {}
    for k in range(folds):
        train = [s for s in samples if fold_of(s.store, folds) != k]
        test = [s for s in samples if fold_of(s.store, folds) == k]
        if not test or not train:
            continue
        model = fit(train)
        for source in sorted({s.source for s in test}):
            by_source.setdefault(source, []).extend((s, model) for s in test if s.source == source)
        if progress:
            progress(f"fold {k + 1}/{folds}: {len(test)} held-out samples")
    return {source: _pooled(pairs) for source, pairs in sorted(by_source.items())}


def holdout(samples: list[Sample], fraction: float) -> dict:
    """Fit on the stores outside a fixed share, score the stores inside it."""
    buckets = 1000

    def held(s: Sample) -> bool:
        return zlib.crc32(s.store.encode()) % buckets < fraction * buckets

    model = fit([s for s in samples if not held(s)])
    test = [s for s in samples if held(s)]
    out = {
        source: score(model, [s for s in test if s.source == source])
        for source in sorted({s.source for s in test})
    }
    out["stores_held_out"] = len({s.store for s in test})
    return out


def _pooled(pairs: list[tuple[Sample, receipts.ReceiptModel]]) -> dict:
    totals: Counter = Counter()
    n = 0
    for sample, model in pairs:
        result = score(model, [sample])
        for key, value in result.items():
            if key not in ("receipts", "mean"):
                totals[key] += value
        n += 1
    acc = {k: round(v / n, 4) for k, v in totals.items()}
    acc["mean"] = round(sum(acc[k] for k in FIELDS) / len(FIELDS), 4)
    acc["receipts"] = n
    return acc


# ----------------------------------------------------------------------------- reading


PUNCTUATION = (",", ".", ":")


def _overlap(a: tuple, b: tuple) -> float:
    """Share of box ``b`` that lies inside box ``a``."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    area = max(1e-6, (b[2] - b[0]) * (b[3] - b[1]))
    return max(0.0, w) * max(0.0, h) / area


def reading_metrics(pairs: Iterable[tuple[list[Line], list[Line]]]) -> dict:
    """How OCR reads the lines a person transcribed, on the same image.

    ``pairs``: (transcript segments, OCR segments) per receipt, with boxes in the same
    pixels. Each transcript line is compared with the OCR segments lying on it (more than
    half of their box inside it), joined left to right:
    - ``char_accuracy``: 1 - edit distance / length, spaces left out (what was read);
    - ``spacing_<p>``: for each ``,`` ``.`` ``:`` read at the same place, the share where
      the spaces before and after it are as transcribed (how it was spaced);
    - ``accented_letters_per_1000``: accented letters the OCR added, per 1,000 letters;
    - ``line_kept_whole``: share of transcript lines read as exactly one OCR segment.
    """
    from rapidfuzz.distance import Levenshtein

    errors = length = letters = accented = whole = lines = 0
    spacing: Counter = Counter()
    spacing_total: Counter = Counter()
    for truth_lines, ocr_lines in pairs:
        for t in truth_lines:
            if not t.box or not t.text.strip():
                continue
            on_it = sorted(
                (o for o in ocr_lines if o.box and _overlap(t.box, o.box) > 0.5),
                key=lambda o: o.box[0],
            )
            truth = re.sub(r"\s+", " ", t.text).strip().upper()
            read = re.sub(r"\s+", " ", " ".join(o.text for o in on_it)).strip().upper()
            t_chars, r_chars = truth.replace(" ", ""), read.replace(" ", "")
            errors += Levenshtein.distance(t_chars, r_chars)
            length += len(t_chars)
            lines += 1
            whole += len(on_it) == 1
            letters += sum(c.isalpha() for c in read)
            accented += max(
                0,
                sum(c.isalpha() and not c.isascii() for c in read)
                - sum(c.isalpha() and not c.isascii() for c in truth),
            )
            for tag, i1, i2, j1, _ in Levenshtein.opcodes(truth, read):
                if tag != "equal":
                    continue
                for k in range(i1, i2):
                    if truth[k] not in PUNCTUATION:
                        continue
                    j = j1 + (k - i1)
                    after = (truth[k + 1 : k + 2] == " ") == (read[j + 1 : j + 2] == " ")
                    before = (truth[k - 1 : k] == " ") == (read[j - 1 : j] == " ")
                    spacing[truth[k]] += after and before
                    spacing_total[truth[k]] += 1
    out = {
        "char_accuracy": round(1 - errors / max(1, length), 4),
        "accented_letters_per_1000": round(1000 * accented / max(1, letters), 2),
        "line_kept_whole": round(whole / max(1, lines), 4),
    }
    for ch in PUNCTUATION:
        out[f"spacing_{ch}"] = round(spacing[ch] / max(1, spacing_total[ch]), 4)
    return out


def transcript_segments(path: Path) -> list[Line]:
    """The transcript's lines as boxed (not grouped into rows)."""
    rows = transcript_lines(path)
    return [
        Line(text, box)
        for row in rows
        for text, box in zip(row.parts or [row.text], row.part_boxes or [row.box], strict=False)
    ]


def reading_pairs(folder: Path, ocr_dir: Path, tidy: bool = True):
    """(transcript segments, OCR segments) for every receipt whose OCR is in ``ocr_dir``."""
    for path in sorted(ocr_dir.glob("*.json")):
        box = folder / "box" / f"{path.stem}.csv"
        if not box.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        segments = [segment_line(s) for s in data["segments"]]
        yield transcript_segments(box), tidy_reading(segments) if tidy else segments
