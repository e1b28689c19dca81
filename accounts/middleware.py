"""Session-level redirects: an htmx request whose session has ended goes to the login page
as a whole page; an Owner or Admin whom an organization requires to use two-factor goes to
set it up before anything else."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from accounts import twofactor


class HtmxLoginRedirectMiddleware:
    """``login_required`` answers with a redirect to the login page. htmx would follow
    it and swap the whole login page into the modal or table that asked, and after
    signing in the user would land on that fragment's URL. Instead, tell htmx to load
    the login page in the window, coming back to the page the user was on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.status_code != 302:
            return response
        location = urlsplit(response["Location"])
        if location.path != resolve_url(settings.LOGIN_URL):
            return response
        query = dict(parse_qsl(location.query))
        current = request.htmx.current_url_abs_path
        if current and "next" in query:
            query["next"] = current
        return HttpResponseClientRedirect(f"{location.path}?{urlencode(query)}")


@cache
def allowed_paths(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(reverse(name) for name in names)


class TwoFactorEnrolmentMiddleware:
    """Owners and Admins of an organization that requires two-factor, who have not set it up,
    see only the set-up page (and may sign out, or change their password)."""

    ALLOWED = (
        "accounts:two-factor-setup",
        "accounts:account",
        "accounts:logout",
        "accounts:password_change",
    )

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.must_enrol(request):
            target = reverse("accounts:two-factor-setup")
            if getattr(request, "htmx", False) or request.headers.get("HX-Request"):
                return HttpResponseClientRedirect(target)
            return redirect(target)
        return self.get_response(request)

    def must_enrol(self, request: HttpRequest) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        path = request.path_info
        if path.startswith((settings.STATIC_URL, "/static/", "/v1/open/")):
            return False
        if path in allowed_paths(self.ALLOWED):
            return False
        return twofactor.must_enrol(user)  # type: ignore[arg-type]
