"""Extraction speed and memory, through the same ``extract()`` call the API uses.

    python bench/extraction_bench.py [--receipts N] [--eval ../shared/eval]

Prints seconds per receipt image (p50, p95; OCR engine warm, first image reported
separately as the cold start), pages per second on GeoTopo.pdf (117-page text
layer) and the peak RSS of this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from extraction.pipeline import Limits, extract
from extraction.pipeline.ocr import get_engine

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--receipts", type=int, default=20, help="number of SROIE receipt images (default 20)"
    )
    parser.add_argument(
        "--eval", type=Path, default=Path(os.environ.get("EXTRACTION_EVAL_DIR", DEFAULT_EVAL))
    )
    args = parser.parse_args()

    images = sorted((args.eval / "sroie" / "img").glob("*.jpg"))[: args.receipts]
    geotopo = args.eval / "pdftext" / "GeoTopo.pdf"
    if not images and not geotopo.exists():
        print(f"no evaluation data under {args.eval}", file=sys.stderr)
        return 1

    # The machine may be shared: the load average says how much of it this run had.
    print(f"cpus: {os.cpu_count()}  python: {sys.version.split()[0]}  load: {_load()}")
    print(f"peak RSS at start: {peak_rss_mb():.0f} MiB")
    if images:
        t0 = time.perf_counter()
        engine = get_engine()
        print(f"OCR engine: {engine.name} (loaded in {time.perf_counter() - t0:.2f} s)")
        seconds = []
        for image in images:
            data = image.read_bytes()
            t0 = time.perf_counter()
            extract(data, image.name, doc_type="receipt")
            seconds.append(time.perf_counter() - t0)
        cold, warm = seconds[0], seconds[1:] or seconds
        print(f"receipts: {len(seconds)} images; first (cold) {cold:.2f} s")
        print(
            f"seconds per receipt image: p50 {percentile(warm, 0.5):.2f}  p95 {percentile(warm, 0.95):.2f}  "
            f"mean {sum(warm) / len(warm):.2f}"
        )
        print(f"peak RSS after receipts: {peak_rss_mb():.0f} MiB")
    if geotopo.exists():
        data = geotopo.read_bytes()
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            result = extract(data, geotopo.name, doc_type="generic", limits=Limits(max_pages=1000))
            runs.append(time.perf_counter() - t0)
        best = min(runs)
        pages = len(result.pages)
        print(
            f"GeoTopo.pdf: {pages} pages, best of 3 {best:.2f} s -> {pages / best:.0f} pages/s "
            f"(median {sorted(runs)[1]:.2f} s)"
        )
    print(f"peak RSS: {peak_rss_mb():.0f} MiB  load at the end: {_load()}")
    return 0


def _load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


if __name__ == "__main__":
    raise SystemExit(main())
