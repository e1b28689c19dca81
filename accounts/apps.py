from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from a2v2 import checks  # noqa: F401  (registers the system checks)
        from accounts import signals  # noqa: F401
