from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils.timesince import timesince

from apikeys import models

register = template.Library()


@register.filter
def ago(value: datetime | None) -> str:
    """`3 months ago` rather than timesince's `3 months, 4 weeks`; `just now` under a minute."""
    if value is None:
        return ""
    text = timesince(value, depth=1)
    return "just now" if text.startswith("0\xa0minutes") else f"{text} ago"


@register.filter
def grace_length(value: timedelta | None) -> str:
    return models.grace_length(value)
