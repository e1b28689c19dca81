"""Passkeys (WebAuthn), a second factor beside the authenticator app, kept by
django-otp-webauthn in its own table (`WebAuthnCredential`, a django-otp device).

They are offered once two-factor is on: the authenticator app and the recovery codes stay
the way back in when a passkey is lost. Turning two-factor off, or an operator's
`reset_two_factor`, removes them with the rest (`twofactor.turn_off`).
"""

from __future__ import annotations

from django.db.models import QuerySet
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import User


def of(user: User) -> QuerySet[WebAuthnCredential]:
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at")


def count_for(user: User) -> int:
    return of(user).count()


def remove(user: User, passkey_id: int) -> WebAuthnCredential | None:
    """Deletes one of `user`'s passkeys; None when they have none with this id."""
    passkey = of(user).filter(pk=passkey_id).first()
    if passkey is not None:
        passkey.delete()
    return passkey


def remove_all(user: User) -> int:
    removed, _ = WebAuthnCredential.objects.filter(user=user).delete()
    return removed
