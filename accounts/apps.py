from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Imported for their side effects: registering system checks and signal receivers.
        import accounts.checks
        import accounts.signals  # noqa: F401
