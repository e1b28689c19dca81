from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed

from extraction.pipeline.config import PipelineConfig, configure


class ExtractionConfig(AppConfig):
    name = "extraction"
    verbose_name = "Document extraction"

    def ready(self) -> None:
        from extraction import checks  # noqa: F401  (registers the system checks)

        configure(pipeline_config())
        setting_changed.connect(_reconfigure)


def pipeline_config() -> PipelineConfig:
    """The pipeline's settings, from the project's (it reads no environment itself)."""
    return PipelineConfig(
        ocr_engine=settings.EXTRACTION_OCR_ENGINE,
        ocr_threads=settings.EXTRACTION_OCR_THREADS or None,
        ocr_max_side=settings.EXTRACTION_OCR_MAX_SIDE or None,
        ocr_detect_side=settings.EXTRACTION_OCR_DETECT_SIDE or None,
        model_dir=Path(settings.EXTRACTION_MODEL_DIR) if settings.EXTRACTION_MODEL_DIR else None,
        phone_regions=tuple(settings.EXTRACTION_PHONE_REGIONS),
        date_order=settings.EXTRACTION_DATE_ORDER,
    )


def _reconfigure(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("EXTRACTION_"):  # override_settings in tests
        configure(pipeline_config())
