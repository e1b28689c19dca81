"""``manage.py extraction_train`` - fit the receipt model on ``../shared/train`` (and on the
workspace's corrected documents), or measure how it does on stores it has not seen.

    manage.py extraction_train --output extraction/pipeline/data/receipt_model   # shipped model
    manage.py extraction_train --include-corrections          # into EXTRACTION_MODEL_DIR
    manage.py extraction_train --cv-stores 5                  # measure only, writes nothing
    manage.py extraction_train --holdout-stores 0.2           # measure only, writes nothing
    manage.py extraction_train --reading                      # OCR against the transcripts
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from extraction import training


class Command(BaseCommand):
    help = "Fit the receipt field model on the training data (and corrected documents)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            type=Path,
            default=Path(settings.BASE_DIR).parent / "shared" / "train",
            help="training folder holding sroie/ (default ../shared/train)",
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help="where to write the model (default: EXTRACTION_MODEL_DIR)",
        )
        parser.add_argument(
            "--ocr-cache",
            type=Path,
            default=Path(settings.EXTRACTION_OCR_CACHE),
            help="folder of cached OCR results of the training images (default var/ocr)",
        )
        parser.add_argument(
            "--no-ocr", action="store_true", help="fit on the line transcripts only"
        )
        parser.add_argument(
            "--cached-ocr-only",
            action="store_true",
            help="use only the training images whose OCR is already cached (quick refits)",
        )
        parser.add_argument(
            "--include-corrections",
            action="store_true",
            help="add this installation's corrected receipts to the training data",
        )
        parser.add_argument(
            "--cv-stores",
            type=int,
            default=None,
            metavar="K",
            help="measure only: K-fold cross-validation split by store",
        )
        parser.add_argument(
            "--holdout-stores",
            type=float,
            default=None,
            metavar="F",
            help="measure only: fit without a share F of the stores, score those stores",
        )
        parser.add_argument(
            "--reading",
            action="store_true",
            help="measure only: OCR of the training images against their transcripts",
        )

    def handle(self, *args, **options):
        sroie = options["data"] / "sroie"
        if not (sroie / "key").is_dir():
            raise CommandError(f"{sroie} holds no key/ folder: no training data there.")
        cache = options["ocr_cache"] / "rapidocr" / "train"
        progress = (lambda m: self.stderr.write(m)) if options["verbosity"] >= 2 else None
        if options["reading"]:
            self._reading(sroie, cache)
            return
        measuring = options["cv_stores"] is not None or options["holdout_stores"] is not None
        output = options["output"] or (
            Path(settings.EXTRACTION_MODEL_DIR) if settings.EXTRACTION_MODEL_DIR else None
        )
        if not measuring and output is None:
            raise CommandError(
                "Set EXTRACTION_MODEL_DIR (where the workers read the model) or pass --output."
            )
        if options["cv_stores"] is not None and options["cv_stores"] < 2:
            raise CommandError("--cv-stores needs at least 2 folds.")
        if options["holdout_stores"] is not None and not 0 < options["holdout_stores"] < 1:
            raise CommandError("--holdout-stores is a share between 0 and 1, e.g. 0.2.")

        started = time.perf_counter()
        samples = training.load_sroie(
            sroie,
            ocr_cache=cache,
            with_ocr=not options["no_ocr"],
            progress=progress,
            cached_only=options["cached_ocr_only"],
        )
        if options["include_corrections"]:
            corrected = training.corrected_samples(progress)
            self.stdout.write(f"corrected documents: {len(corrected)}")
            samples += corrected
        if not samples:
            raise CommandError(f"No receipts found under {sroie}.")
        self.stdout.write(_describe(samples))

        if options["cv_stores"] is not None:
            report = training.cross_validate(samples, options["cv_stores"], progress)
            self.stdout.write(f"cross-validation by store ({options['cv_stores']} folds):")
            self._scores(report)
        if options["holdout_stores"] is not None:
            report = training.holdout(samples, options["holdout_stores"])
            held = report.pop("stores_held_out")
            self.stdout.write(f"held-out stores: {held} ({options['holdout_stores']:.0%})")
            self._scores(report)
        if measuring:
            return

        model = training.fit(samples)
        sizes = training.save(model, output)
        self.stdout.write(
            f"model written to {output}: {sum(sizes.values()) / 1024:.0f} KiB "
            f"(digest {training.digest(output)}) in {time.perf_counter() - started:.0f} s"
        )

    def _scores(self, report: dict) -> None:
        for source, acc in report.items():
            fields = ", ".join(f"{k} {acc[k]:.1%}" for k in training.FIELDS)
            self.stdout.write(
                f"  {source} ({acc['receipts']}): {fields}; mean {acc['mean']:.1%}; "
                f"total as a number {acc['total_number']:.1%}"
            )

    def _reading(self, sroie: Path, cache: Path) -> None:
        if not any(cache.glob("*.json")):
            raise CommandError(f"No cached OCR in {cache}: run extraction_train once first.")
        for tidy in (False, True):
            metrics = training.reading_metrics(training.reading_pairs(sroie, cache, tidy=tidy))
            label = "after tidy_reading" if tidy else "raw recogniser output"
            self.stdout.write(f"{label}: {json.dumps(metrics)}")


def _describe(samples: list[training.Sample]) -> str:
    sources: dict[str, int] = {}
    for s in samples:
        sources[s.source] = sources.get(s.source, 0) + 1
    stores = len({s.store for s in samples})
    return (
        "training receipts: "
        + ", ".join(f"{k} {v}" for k, v in sorted(sources.items()))
        + (f" ({stores} stores)")
    )
