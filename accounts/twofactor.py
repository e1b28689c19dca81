"""Two-factor authentication with django-otp: an authenticator app (TOTP) and single-use
recovery codes (django-otp's static device); passkeys may be added (accounts/passkeys.py).

A member has two-factor on when they have a confirmed TOTP device. Enrolment creates an
unconfirmed device, shows its QR code (drawn here, as inline SVG, by segno) and confirms it
with a first code; then ten recovery codes are shown once.
"""

from __future__ import annotations

import math
from base64 import b32encode

import segno
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django_otp import devices_for_user, match_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import passkeys
from accounts.models import Membership, Role, User

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
RECOVERY_NAME = "Recovery codes"


def has_two_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def must_enrol(user: User) -> bool:
    """An Owner or Admin of an organization that requires two-factor, without it yet."""
    required = Membership.objects.filter(
        user=user, role__in=(Role.OWNER, Role.ADMIN), organization__require_two_factor=True
    ).exists()
    return required and not has_two_factor(user)


def requiring_organizations(user: User) -> list[str]:
    return list(
        Membership.objects.filter(
            user=user, role__in=(Role.OWNER, Role.ADMIN), organization__require_two_factor=True
        ).values_list("organization__name", flat=True)
    )


def normalise_code(code: str) -> str:
    """Codes are typed with spaces or dashes ("123 456", "abcd-efgh"); compare without."""
    return "".join(code.split()).replace("-", "").lower()


def verify_code(user: User, code: str) -> Device | None:
    """The device that accepts `code`: the authenticator app, or a recovery code (which is
    used up). django-otp throttles each device after failures (1, 2, 4 … s)."""
    code = normalise_code(code)
    if not code:
        return None
    return match_token(user, code)


def wait_before_next_code(user: User, device: Device | None = None) -> int:
    """Seconds until a code is checked again: django-otp refuses codes for 1, 2, 4 … s after
    wrong ones, without saying so. 0 when `device` (or any of the user's) would check now."""
    devices = [device] if device is not None else list(devices_for_user(user, confirmed=True))
    waits = []
    for candidate in devices:
        allowed, data = candidate.verify_is_allowed()
        if allowed:
            return 0
        remaining = (data["locked_until"] - timezone.now()).total_seconds()
        waits.append(max(1, math.ceil(remaining)))
    return min(waits, default=0)


def wrong_code_message(user: User, device: Device | None = None) -> str:
    wait = wait_before_next_code(user, device)
    if wait > 1:
        return f"Too many wrong codes. Wait {wait} seconds, then try again."
    return "That code didn't work. Check your authenticator app and try again."


def is_recovery_code(device: Device) -> bool:
    return isinstance(device, StaticDevice)


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


# ---- enrolment -------------------------------------------------------------------------


def pending_authenticator(user: User) -> TOTPDevice:
    """The unconfirmed authenticator being set up (one at a time)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def setup_key(device: TOTPDevice) -> str:
    """The secret for typing into an app by hand, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def qr_code_svg(device: TOTPDevice) -> SafeString:
    """The otpauth:// URI as an inline SVG: drawn on our server, no external service, and
    no inline style (it passes the strict Content Security Policy)."""
    svg = segno.make(device.config_url, error="m").svg_inline(
        scale=5, border=2, dark="#111827", light="#ffffff", title="QR code to scan"
    )
    return format_html('<div class="qr-code">{}</div>', mark_safe(svg))  # segno escapes its input


@transaction.atomic
def confirm_authenticator(device: TOTPDevice, code: str) -> list[str] | None:
    """Confirms the device with its first code; returns the new recovery codes, or None when
    the code is wrong."""
    if not device.verify_token(normalise_code(code)):
        return None
    TOTPDevice.objects.filter(user=device.user, confirmed=True).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    return new_recovery_codes(device.user)


@transaction.atomic
def new_recovery_codes(user: User) -> list[str]:
    """Ten fresh recovery codes; the earlier ones stop working. Shown once, then only their
    count is ever displayed again."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return [f"{code[:4]}-{code[4:]}" for code in codes]


@transaction.atomic
def turn_off(user: User) -> int:
    """Removes every second factor of `user` (the authenticator, recovery codes, passkeys)."""
    removed, _ = TOTPDevice.objects.filter(user=user).delete()
    static, _ = StaticDevice.objects.filter(user=user).delete()
    return removed + static + passkeys.remove_all(user)
