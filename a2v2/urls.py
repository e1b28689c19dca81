from __future__ import annotations

from django.urls import include, path, re_path

from a2v2.api import api
from a2v2.metrics import metrics_view
from a2v2.views import favicon, open_api_not_found
from apikeys.api import router as keys_router
from contacts.api import router as contacts_router
from extraction.api import router as extraction_router

api.add_router("/keys", keys_router)
api.add_router("/contacts", contacts_router)
api.add_router("/document-extraction", extraction_router)

urlpatterns = [
    path("", include("accounts.urls")),
    path("", include("apikeys.urls")),
    path("", include("contacts.urls")),
    path("", include("extraction.urls")),
    path("metrics", metrics_view, name="metrics"),
    # Browsers and bookmarks still ask for /favicon.ico; pages link the static icons.
    path("favicon.ico", favicon),
    path("v1/open/", api.urls),
    # Anything else under /v1/open answers in the JSON envelope, never Django's HTML 404.
    re_path(r"^v1/open(?:/.*)?$", open_api_not_found, name="open-api-not-found"),
]
