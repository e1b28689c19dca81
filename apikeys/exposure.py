"""A key sent in a URL's query string is refused (400), yet it has now passed through
proxies, load balancers and browser histories that log URLs. When the URL carried a real
key with its right secret, the key is flagged as exposed — a red "Exposed" badge on its row
until it is rotated — and an audit event says so. It is not revoked automatically: that
would cut off the integration without warning; the owner rotates it (with a grace period)
when ready.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.http import HttpRequest
from django.http.request import QueryDict

from apikeys import keyformat
from apikeys.models import ApiKey

logger = logging.getLogger(__name__)

KEY_ID_NAMES = {"api_key", "apikey", "key", "x-api-key", "x_api_key"}
SECRET_NAMES = {"api_secret", "x-api-secret", "x_api_secret", "secret"}


def presented_in(query: QueryDict) -> Iterator[keyformat.PresentedKey]:
    """Every well-formed key in the query string: a whole key under any name, or a key id
    and a secret under the two-header form's names."""
    values = {name.lower(): value for name, value in query.items()}
    for value in values.values():
        try:
            yield keyformat.parse_full_key(value)
        except keyformat.MalformedKey:
            continue
    for id_name in KEY_ID_NAMES & values.keys():
        for secret_name in SECRET_NAMES & values.keys():
            try:
                yield keyformat.parse_key_id_and_secret(values[id_name], values[secret_name])
            except keyformat.MalformedKey:
                continue


def report_key_in_url(request: HttpRequest, client: str) -> None:
    """Flag every real key this URL exposed. Only a right secret counts, so that nobody can
    flag someone else's key by knowing its (public) id."""
    from apikeys.verification import verify_secret

    for presented in presented_in(request.GET):
        key = ApiKey.objects.find(presented.key_id)
        if key is None:
            continue
        if verify_secret(key, presented):
            key.mark_exposed(request)
            logger.warning("API key key_id=%s was sent in a URL; flagged as exposed", key.key_id)
