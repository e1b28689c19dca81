"""What stands between a password guesser and the admin sign-in.

Three rules, all on django-axes' records of failed sign-ins (`axes.models.AccessAttempt`,
one row per account, address and browser):

1. **Account and address**: `LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS` failures for one account
   from one address lock that pair for `LOGIN_LOCKOUT_MINUTES`.
2. **Address**: `LOGIN_FAILURES_PER_ADDRESS` failures for any accounts from one address lock
   the address. Neither lock keeps the rightful user, elsewhere, out of their account.
3. **Account, from anywhere**: past `LOGIN_ACCOUNT_FREE_FAILURES` failures, each further
   attempt must wait a delay that doubles (1, 2, 4 … s, at most
   `LOGIN_ACCOUNT_MAX_DELAY_SECONDS`). A distributed guess is slowed, never a lockout; and a
   browser that signed in to the account before (a signed "known browser" cookie) is not
   slowed at all.

Every rule counts the address typed, whether or not an account has it, and answers the same,
so the answers never tell which accounts exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core import signing
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

KNOWN_BROWSER_COOKIE = "a2v2_known"
KNOWN_BROWSER_SALT = "accounts.signin.known-browser"
KNOWN_BROWSER_MAX_AGE = 365 * 24 * 3600


def attempted_email(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The account a sign-in names, as one key however it was typed (AXES_USERNAME_CALLABLE)."""
    credentials = credentials or {}
    # Django's signals name it "username"; axes' own credentials name it after
    # USERNAME_FIELD ("email").
    value = credentials.get("username") or credentials.get("email")
    if value is None:
        value = request.POST.get("username", "")
    return str(value).strip().lower()


class SignInAttemptsHandler(AxesDatabaseHandler):
    """django-axes' database handler with two budgets instead of one: the account-and-address
    pair is locked at AXES_FAILURE_LIMIT failures, the address alone at LOGIN_FAILURES_PER_ADDRESS.

    axes compares the largest of its per-parameter counts with one limit; the address count
    is scaled onto that limit, so each parameter reaches it at its own number of failures.
    """

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        per_pair, per_address = (
            attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        limit = settings.AXES_FAILURE_LIMIT
        return max(per_pair, per_address * limit // settings.LOGIN_FAILURES_PER_ADDRESS)


def lockout_minutes() -> int:
    return math.ceil(get_cool_off().total_seconds() / 60)


def lockout_message() -> str:
    minutes = lockout_minutes()
    return (
        f"Too many failed sign-in attempts. Try again in {minutes} minutes, or reset your password."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """The sign-in page again with when to retry (AXES_LOCKOUT_CALLABLE); the same words
    whether or not the account exists. A password typed again for sudo mode or a password
    change is answered by its own form, which shows the same message."""
    if isinstance(credentials, dict) and credentials.get("purpose") and original_response:
        return original_response
    form = AuthenticationForm(request, initial={"username": attempted_email(request, credentials)})
    context = {"form": form, "lockout": lockout_message()}
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(lockout_minutes() * 60)
    return response


# ---- rule 3: one account, from anywhere -------------------------------------------------


@dataclass(frozen=True)
class AccountPace:
    failures: int
    wait_seconds: int

    @property
    def slowed(self) -> bool:
        return self.wait_seconds > 0


def account_delay(failures: int) -> int:
    """Seconds the next attempt must wait after `failures` recent failures."""
    over = failures - settings.LOGIN_ACCOUNT_FREE_FAILURES
    if over <= 0:
        return 0
    return min(2 ** min(over - 1, 30), settings.LOGIN_ACCOUNT_MAX_DELAY_SECONDS)


def account_pace(email: str, now: datetime | None = None) -> AccountPace:
    """Failures for `email` from every address in the lockout window, and how long the next
    attempt must still wait."""
    now = now or timezone.now()
    recent = AccessAttempt.objects.filter(
        username=email, attempt_time__gte=now - get_cool_off()
    ).aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    failures = recent["failures"] or 0
    if not failures:
        return AccountPace(0, 0)
    allowed_at = recent["last"] + timedelta(seconds=account_delay(failures))
    return AccountPace(failures, max(0, math.ceil((allowed_at - now).total_seconds())))


def slowed_message(seconds: int) -> str:
    if seconds < 120:
        when = f"{seconds} second{'' if seconds == 1 else 's'}"
    else:
        when = f"{math.ceil(seconds / 60)} minutes"
    return (
        "This account has had many failed sign-in attempts, so sign-ins to it are slowed "
        f"down. Try again in {when}."
    )


def known_accounts(request: HttpRequest) -> list[str]:
    """The accounts (as tags) this browser signed in to before, from its signed cookie."""
    try:
        known = signing.get_cookie_signer(salt=KNOWN_BROWSER_SALT).unsign_object(
            request.COOKIES.get(KNOWN_BROWSER_COOKIE, ""), max_age=KNOWN_BROWSER_MAX_AGE
        )
    except signing.BadSignature:
        return []
    return [str(tag) for tag in known] if isinstance(known, list) else []


def known_browser(request: HttpRequest, email: str) -> bool:
    """Did this browser sign in to `email` before? (Then a guess elsewhere does not slow it.)"""
    return email_tag(email) in known_accounts(request)


def remember_browser(request: HttpRequest, response: HttpResponse, email: str) -> None:
    """After a successful sign-in: this browser is known for this account from now on."""
    known = known_accounts(request)
    tag = email_tag(email)
    tags = [*[other for other in known if other != tag][-4:], tag]
    response.set_cookie(
        KNOWN_BROWSER_COOKIE,
        signing.get_cookie_signer(salt=KNOWN_BROWSER_SALT).sign_object(tags),
        max_age=KNOWN_BROWSER_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def email_tag(email: str) -> str:
    """A short keyed digest: the cookie names accounts without showing their addresses."""
    return signing.salted_hmac(KNOWN_BROWSER_SALT, email.lower(), algorithm="sha256").hexdigest()[
        :16
    ]


# ---- locks, for the members page and `manage.py unlock_sign_in` ------------------------


@dataclass(frozen=True)
class Lock:
    email: str
    address: str
    failures: int
    until: datetime


def locks_for(emails: list[str]) -> dict[str, list[Lock]]:
    """The addresses from which each of `emails` is locked out now, by email."""
    since = timezone.now() - get_cool_off()
    rows = (
        AccessAttempt.objects.filter(username__in=emails, attempt_time__gte=since)
        .values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    )
    address_failures = dict(
        AccessAttempt.objects.filter(
            ip_address__in={row["ip_address"] for row in rows}, attempt_time__gte=since
        )
        .values_list("ip_address")
        .annotate(failures=Sum("failures_since_start"))
    )
    locks: dict[str, list[Lock]] = {}
    for row in rows:
        locked = row["failures"] >= settings.AXES_FAILURE_LIMIT or (
            address_failures.get(row["ip_address"], 0) >= settings.LOGIN_FAILURES_PER_ADDRESS
        )
        if locked:
            until = row["last"] + get_cool_off()
            lock = Lock(row["username"], row["ip_address"] or "unknown", row["failures"], until)
            locks.setdefault(row["username"], []).append(lock)
    return locks


def unlock(email: str | None = None, address: str | None = None) -> int:
    """Lift locks: an account's failures (from `address`, or from everywhere), or an
    address's. When the address itself is over its budget, its failures for every account
    go too, or the lock would stay. Returns how many failure records were forgotten."""
    email = email.lower() if email else None
    if not email and not address:
        return 0
    count = AxesProxyHandler.reset_attempts(ip_address=address, username=email)
    if address and address_failures(address) >= settings.LOGIN_FAILURES_PER_ADDRESS:
        count += AxesProxyHandler.reset_attempts(ip_address=address)
    return count


def address_failures(address: str) -> int:
    since = timezone.now() - get_cool_off()
    recent = AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since)
    return recent.aggregate(n=Sum("failures_since_start"))["n"] or 0
