"""How often a password-reset e-mail can be asked for.

Two one-hour windows in the shared counters the API's limits use (`apikeys/counters.py`),
counted for the address typed whether or not an account has it:

- **per client address** (`PASSWORD_RESETS_PER_ADDRESS`): past it, that address is answered
  429 with when to retry. The answer is about the asker's own requests, never about an
  account.
- **per e-mail address typed** (`PASSWORD_RESETS_PER_EMAIL`): past it, nothing more goes to
  that mailbox this hour, and the answer is the usual "check your email" page. The links
  already sent keep working, so the rightful user loses nothing, while someone flooding a
  mailbox from many addresses is stopped without learning anything.

What a request leads to, the e-mail and the audit events, is done by the task worker
(`answer`, queued for every address typed), so the page takes as long for an address that
has no account (bench/reset_timing.py).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.utils.crypto import salted_hmac

from accounts.models import AuditAction, AuditEvent, AuditStatus, Organization, User
from apikeys import counters, ratelimit

EMAIL_TAG_SALT = "accounts.resets.email"


class Outcome(enum.Enum):
    SEND = "send"
    MAILBOX_FULL = "mailbox full"  # answered like SEND, nothing sent
    ADDRESS_LIMITED = "address limited"  # 429
    UNAVAILABLE = "unavailable"  # 503: the counters are down and RATELIMIT_ON_CACHE_FAILURE=closed


@dataclass(frozen=True)
class Admission:
    outcome: Outcome
    retry_after: int = 0  # seconds, for ADDRESS_LIMITED and UNAVAILABLE


def windows() -> tuple[ratelimit.Window, ratelimit.Window]:
    return (
        ratelimit.Window("hour", 3600, settings.PASSWORD_RESETS_PER_ADDRESS),
        ratelimit.Window("hour", 3600, settings.PASSWORD_RESETS_PER_EMAIL),
    )


def email_tag(email: str) -> str:
    # A keyed digest: the counters (Redis, a SQLite file) never hold the address itself.
    return salted_hmac(EMAIL_TAG_SALT, email.strip().lower(), algorithm="sha256").hexdigest()[:32]


def admit(client: str, email: str, now: float | None = None) -> Admission:
    """Count one reset request from `client` for `email`, and say what to do with it."""
    now = time.time() if now is None else now
    per_address, per_email = windows()
    entries = [
        (per_address.bucket(f"reset:client:{client}", now), per_address.seconds, 1),
        (per_email.bucket(f"reset:email:{email_tag(email)}", now), per_email.seconds, 1),
    ]
    try:
        by_address, by_email = counters.add(entries)
    except counters.CountersUnavailable:
        if ratelimit.fail_open():
            return Admission(Outcome.SEND)
        return Admission(Outcome.UNAVAILABLE, retry_after=5)
    if by_address > per_address.limit:
        return Admission(Outcome.ADDRESS_LIMITED, retry_after=per_address.resets_in(now))
    if by_email > per_email.limit:
        return Admission(Outcome.MAILBOX_FULL)
    return Admission(Outcome.SEND)


def address_limited_message(retry_after: int) -> str:
    minutes = max(1, -(-retry_after // 60))
    return (
        "Too many password reset requests from your network. "
        f"Try again in {minutes} minute{'' if minutes == 1 else 's'}."
    )


UNAVAILABLE_MESSAGE = "Password reset is unavailable for a moment. Try again shortly."

AUDIT = {
    Outcome.SEND: ("Asked for a password reset e-mail", AuditStatus.SUCCESS),
    Outcome.MAILBOX_FULL: (
        "Password reset e-mail not sent: too many asked for this address within the hour",
        AuditStatus.FAILURE,
    ),
    Outcome.ADDRESS_LIMITED: (
        "Password reset refused: too many requests from this network",
        AuditStatus.FAILURE,
    ),
}


def answer(email: str, outcome: Outcome, client: str, domain: str, use_https: bool) -> int:
    """What a request leads to, done by the task worker (accounts/tasks.py) so that the page
    answers in the same time whether or not an account has the address: the e-mail (an SMTP
    round trip) and the audit events go only to accounts. Returns how many it concerned."""
    description, status = AUDIT[outcome]
    users = list(User.objects.filter(email__iexact=email, is_active=True))
    for user in users:
        for organization in Organization.objects.for_user(user):
            AuditEvent.record(
                action=AuditAction.UPDATE,
                resource="Account",
                description=description,
                organization=organization,
                user=user,
                status=status,
                address=client,
            )
    if outcome is Outcome.SEND and users:
        form = PasswordResetForm({"email": email})
        if form.is_valid():
            form.save(
                domain_override=domain,
                use_https=use_https,
                subject_template_name="registration/password_reset_subject.txt",
                email_template_name="registration/password_reset_email.txt",
            )
    return len(users)
