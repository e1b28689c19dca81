"""The pipeline's settings, passed in by whoever runs it.

The pipeline is a library and reads no environment of its own: the Django side builds a
`PipelineConfig` from its settings (`a2v2/settings.py`, checked by `extraction/checks.py`)
and installs it with `configure()` when the app loads; `extract_isolated` sends it to its
child process with every job. Code that runs the pipeline without Django gets the
defaults, or calls `configure()` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

OCR_ENGINES = ("auto", "rapidocr", "tesseract")
DATE_ORDERS = ("DMY", "MDY", "YMD")


@dataclass(frozen=True)
class PipelineConfig:
    ocr_engine: str = "auto"  # rapidocr, falling back to tesseract when it is not installed
    ocr_threads: int | None = None  # onnxruntime's own choice when None
    ocr_max_side: int | None = None  # longest side the engine works on; smaller is faster
    ocr_detect_side: int | None = None  # longest side the text detector searches; None: all
    model_dir: Path | None = None  # a receipt model fitted here; the shipped one when None
    phone_regions: tuple[str, ...] = ("US",)  # where numbers without a country code are
    date_order: str = "DMY"  # how 03/04/2024 is read


_current = PipelineConfig()


def configure(config: PipelineConfig) -> None:
    global _current
    _current = config


def current() -> PipelineConfig:
    return _current
