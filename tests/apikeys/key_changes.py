"""The changes a kept key copy must notice (apikeys/records.py): one function each, shared by
the tests on real Redis (test_records.py) and on the in-memory stand-in (test_records_fake.py)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apikeys.models import ApiKey


def narrow(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk).update(contacts_read=False)


def allowlist(key: ApiKey) -> None:
    key.ip_allowlist = "203.0.113.7"
    key.save()


def expire(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def revoke(key: ApiKey) -> None:
    key.delete()


def rotate(key: ApiKey) -> None:
    key.rotate(timedelta(0))
