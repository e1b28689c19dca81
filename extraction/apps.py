from __future__ import annotations

from django.apps import AppConfig


class ExtractionConfig(AppConfig):
    name = "extraction"
    verbose_name = "Document extraction"

    def ready(self) -> None:
        from extraction import checks  # noqa: F401  (registers the system checks)
