from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apikeys import crypto
from apikeys.models import ApiKey, WebhookEndpoint


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored API key and webhook signing secret under the first of "
        "KEY_ENCRYPTION_KEYS. To rotate: "
        "put the new key first and keep the old one after it (KEY_ENCRYPTION_KEYS=new,old), "
        "run this command, then remove the old key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.KEY_ENCRYPTION_KEYS:
            raise CommandError("KEY_ENCRYPTION_KEYS is not set.")
        rotated, hooks, unreadable = 0, 0, []
        with transaction.atomic():
            for key in ApiKey.objects.select_for_update().exclude(encrypted_key=""):
                try:
                    key.encrypted_key = crypto.reencrypt(key.encrypted_key)
                except Exception:
                    unreadable.append(key.key_id)
                    continue
                key.save(update_fields=["encrypted_key"])
                rotated += 1
            for endpoint in WebhookEndpoint.objects.select_for_update():
                try:
                    endpoint.encrypted_secret = crypto.reencrypt(endpoint.encrypted_secret)
                except Exception:
                    unreadable.append(f"webhook {endpoint.url}")
                    continue
                endpoint.save(update_fields=["encrypted_secret"])
                hooks += 1
        self.stdout.write(
            f"Re-encrypted {rotated} API key(s) and {hooks} webhook signing secret(s) under "
            "the current key-encryption key."
        )
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} key(s) could not be decrypted with any configured "
                f"key-encryption key: {', '.join(unreadable)}. Add the old key to "
                "KEY_ENCRYPTION_KEYS and run again (or rotate those API keys)."
            )
