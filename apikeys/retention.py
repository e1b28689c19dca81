"""What `manage.py prune` deletes of the apikeys app's data: keys that expired long ago,
old webhook events with their delivery log, usage counts past their retention, and ended
rate-limit windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from apikeys import counters
from apikeys.models import ApiKey, DeliveryStatus, KeyAddress, KeyUsage, WebhookEvent


def prune(
    now: datetime, *, expired_key_days: int, webhook_days: int, usage_days: int, dry_run: bool
) -> dict[str, int]:
    keys = ApiKey.objects.filter(expires_at__lt=now - timedelta(days=expired_key_days))
    # Old webhook events with their delivery log, once none is still being retried.
    events = WebhookEvent.objects.filter(created_at__lt=now - timedelta(days=webhook_days)).exclude(
        deliveries__status=DeliveryStatus.PENDING
    )
    usage_before = now - timedelta(days=usage_days)
    usage = KeyUsage.objects.filter(hour__lt=usage_before)
    addresses = KeyAddress.objects.filter(hour__lt=usage_before)
    counts = {
        "expiredKeys": keys.count(),
        "webhookEvents": events.count(),
        "keyUsage": usage.count(),
        "keyAddresses": addresses.count(),
    }
    counts["rateCounters"] = counters.store().prune(dry_run=dry_run)
    if not dry_run:
        keys.delete()
        events.delete()
        usage.delete()
        addresses.delete()
    return counts
