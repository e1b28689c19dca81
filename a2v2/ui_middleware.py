"""The admin UI's middleware, which /v1/open requests step around.

An Open API call carries a key, never a cookie: it has no session, no logged-in user, no
CSRF token, no flash messages and no htmx. Each middleware below still runs, unchanged,
for every other request (the admin UI, login, static files), so the UI keeps its sessions,
CSRF checks and security headers; under /v1/open the wrapper hands the request straight
to the next layer. `bench/middleware_cost.py` measures what each one cost there (README,
"Measured").
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from axes.middleware import AxesMiddleware as _Axes
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django_htmx.middleware import HtmxMiddleware as _Htmx

from a2v2.middleware import is_open_api
from accounts.middleware import HtmxLoginRedirectMiddleware as _HtmxLoginRedirect
from accounts.middleware import TwoFactorEnrolmentMiddleware as _TwoFactorEnrolment

Handler = Callable[[HttpRequest], HttpResponse]


class UiOnly:
    """Runs `wrapped` (a middleware class) for every request outside /v1/open."""

    wrapped: type

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.inner = self.wrapped(get_response)
        # Django collects these hooks from the instance: offer only those the inner has.
        for hook in ("process_view", "process_exception", "process_template_response"):
            if hasattr(self.inner, hook):
                setattr(self, hook, self._hook(getattr(self.inner, hook)))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_open_api(request):
            return self.get_response(request)
        return self.inner(request)

    @staticmethod
    def _hook(inner_hook: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(inner_hook)
        def hook(request: HttpRequest, *args: Any) -> Any:
            if not is_open_api(request):
                return inner_hook(request, *args)
            # Stepping around: process_view/_exception continue with None,
            # process_template_response hands back the response it was given.
            return args[0] if inner_hook.__name__ == "process_template_response" else None

        return hook


def ui_only(middleware: type) -> type[UiOnly]:
    attributes = {"wrapped": middleware, "__module__": __name__, "__doc__": UiOnly.__doc__}
    return type(middleware.__name__, (UiOnly,), attributes)


SessionMiddleware = ui_only(_Sessions)
CsrfViewMiddleware = ui_only(_Csrf)
AuthenticationMiddleware = ui_only(_Authentication)
MessageMiddleware = ui_only(_Messages)
HtmxMiddleware = ui_only(_Htmx)
HtmxLoginRedirectMiddleware = ui_only(_HtmxLoginRedirect)
TwoFactorEnrolmentMiddleware = ui_only(_TwoFactorEnrolment)
AxesMiddleware = ui_only(_Axes)
