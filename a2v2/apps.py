from __future__ import annotations

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The project shell (settings, the API's envelope, middleware) as an app, so that its
    system checks are registered by it rather than by one of the feature apps."""

    name = "a2v2"
    verbose_name = "A2V2"

    def ready(self) -> None:
        from a2v2 import checks  # noqa: F401  (registers the system checks)
