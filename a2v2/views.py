from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.views.decorators.csrf import csrf_exempt

from a2v2.envelope import error_response


@csrf_exempt
def open_api_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(404, "No such endpoint. See /v1/open/docs for the API reference.")


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers and bookmarks still ask for /favicon.ico; pages link the static icons."""
    return HttpResponsePermanentRedirect(static("favicon.ico"))
