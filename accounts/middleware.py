"""Sends an htmx request whose session has ended to the login page as a whole page."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect


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
