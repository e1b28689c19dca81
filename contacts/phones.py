"""Mobile numbers: parsed with `phonenumbers` and stored in E.164 (`+14155552671`)."""

from __future__ import annotations

import re

import phonenumbers
from django.conf import settings


def normalize_mobile(value: str, region: str | None = None) -> str:
    """E.164 form of `value`, or ValueError. Numbers without `+` are read in `region`
    (CONTACTS_DEFAULT_REGION unless given)."""
    region = region or settings.CONTACTS_DEFAULT_REGION
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError("Enter a valid phone number, e.g. +14155552671.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("Enter a valid phone number, e.g. +14155552671.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def search_prefixes(term: str, region: str | None = None) -> list[str]:
    """E.164 prefixes a typed (possibly partial) number may stand for: as international
    digits, and as a national number of the default region."""
    region = region or settings.CONTACTS_DEFAULT_REGION
    digits = re.sub(r"\D", "", term)
    prefixes = [f"+{digits}"]
    if not term.strip().startswith("+"):
        national = digits.lstrip("0") if region != "IT" else digits
        code = phonenumbers.country_code_for_region(region)
        if code and national:
            prefixes.append(f"+{code}{national}")
    return list(dict.fromkeys(prefixes))


def is_known_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
