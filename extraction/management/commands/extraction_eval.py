"""``manage.py extraction_eval FOLDER [--limit N] [--json] [--ocr-cache DIR]``: measure.

A thin wrapper over :mod:`extraction.evaluation`; FOLDER is one of
``../shared/eval/{sroie,invoices,pdftext,funsd}`` or their parent (all of them).
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from extraction.evaluation import evaluate, format_report


class Command(BaseCommand):
    help = "Run the extraction pipeline over an evaluation folder; print metrics and rows."

    def add_arguments(self, parser):
        parser.add_argument(
            "folder",
            nargs="?",
            default="../shared/eval",
            help="dataset folder (sroie, invoices, pdftext, funsd) or their parent",
        )
        parser.add_argument(
            "--limit", type=int, default=None, help="only the first N documents of each dataset"
        )
        parser.add_argument(
            "--json", action="store_true", help="print one JSON document instead of text"
        )
        parser.add_argument("--no-rows", action="store_true", help="print metrics only")
        parser.add_argument(
            "--ocr-cache",
            type=Path,
            default=None,
            help="keep OCR output in this folder and reuse it on the next run",
        )

    def handle(self, *args, folder, limit, json: bool, no_rows: bool, ocr_cache, **options):
        progress = None if json or options["verbosity"] < 2 else (lambda m: self.stderr.write(m))
        try:
            report = evaluate(folder, limit=limit, progress=progress, ocr_cache=ocr_cache)
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if json:
            self.stdout.write(_dumps(report))
        else:
            self.stdout.write(format_report(report, rows=not no_rows))


def _dumps(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, default=str)
