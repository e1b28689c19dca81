"""Bulk contact import: a CSV file → checked rows → one transaction.

`read_csv()` matches the header to contact fields, validates every row with the same
rules as the API (`ContactRules`) and reports each bad row with its reason;
`import_rows()` inserts the good rows with `bulk_create` in batches, all or nothing. The
CSV page (contacts/views.py) and bench/contacts_bench.py both go through here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from accounts.models import Agent
from contacts.models import Contact, Source
from contacts.validation import ContactRules

BATCH_SIZE = 2000
STAGED_DIR = "imports"  # previewed files waiting for "Import", one folder per agent


def staged_path(agent: Agent, token: str) -> str:
    return f"{STAGED_DIR}/{agent.public_id}/{token}.csv"


def stale_staged_files(before: datetime) -> list[str]:
    """Previewed files nobody confirmed, last written before ``before``."""
    stale = []
    if not default_storage.exists(STAGED_DIR):
        return stale
    for folder in default_storage.listdir(STAGED_DIR)[0]:
        for name in default_storage.listdir(f"{STAGED_DIR}/{folder}")[1]:
            path = f"{STAGED_DIR}/{folder}/{name}"
            if default_storage.get_modified_time(path) < before:
                stale.append(path)
    return stale


HEADER_ALIASES = {
    "externalreferenceid": "externalReferenceId",
    "externalreference": "externalReferenceId",
    "externalid": "externalReferenceId",
    "referenceid": "externalReferenceId",
    "name": "name",
    "fullname": "name",
    "contactname": "name",
    "email": "email",
    "emailaddress": "email",
    "primaryemail": "email",
    "mobilenumber": "mobileNumber",
    "mobile": "mobileNumber",
    "phone": "mobileNumber",
    "phonenumber": "mobileNumber",
    "gender": "gender",
    "status": "status",
    "stage": "stage",
    "owneremail": "ownerEmail",
    "owner": "ownerEmail",
}


class ImportFailed(Exception):
    """Nothing was imported; the message says why."""


@dataclass
class BadRow:
    line: int  # the line in the file, the header being line 1
    reasons: list[str]
    values: list[str]


@dataclass
class CheckedCsv:
    columns: list[str] = field(default_factory=list)  # the header as written
    fields: list[str | None] = field(default_factory=list)  # each column's field, or None
    good: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, values)
    bad: list[BadRow] = field(default_factory=list)
    error: str = ""  # a problem with the whole file

    @property
    def ignored_columns(self) -> list[str]:
        return [c for c, f in zip(self.columns, self.fields, strict=True) if f is None and c]

    @property
    def rows(self) -> int:
        return len(self.good) + len(self.bad)


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def decode(data: bytes) -> str:
    """CSV bytes as text: UTF-8 (with or without a BOM), else Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _reader(text: IO[str]) -> Iterator[list[str]]:
    sample = text.read(8192)
    text.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(text, dialect)


def match_columns(header: list[str], rules: ContactRules) -> list[str | None]:
    custom = {}
    for definition in rules.custom_fields.values():
        custom[_key(definition.key)] = f"customFields.{definition.key}"
        custom.setdefault(_key(definition.label), f"customFields.{definition.key}")
    fields: list[str | None] = []
    for column in header:
        name = HEADER_ALIASES.get(_key(column)) or custom.get(_key(column))
        fields.append(name if name not in fields else None)
    return fields


def read_csv(
    agent: Agent, source: IO[str] | str, *, rules: ContactRules | None = None
) -> CheckedCsv:
    """Check every row of a CSV file for `agent`; nothing is written."""
    rules = rules or ContactRules(agent)
    text = io.StringIO(source) if isinstance(source, str) else source
    checked = CheckedCsv()
    rows = _reader(text)
    try:
        checked.columns = [c.strip() for c in next(rows)]
    except StopIteration:
        checked.error = "The file is empty."
        return checked
    except csv.Error as error:
        checked.error = f"The file is not valid CSV: {error}."
        return checked
    checked.fields = match_columns(checked.columns, rules)
    if not {"email", "mobileNumber"} & set(checked.fields):
        checked.error = "The file needs an email or a mobile number column (e.g. Email, Mobile)."
        return checked
    labels = {f: c for c, f in zip(checked.columns, checked.fields, strict=True) if f}
    seen_references: dict[str, int] = {}
    try:
        for line_index, values in enumerate(rows, start=2):
            if not any(v.strip() for v in values):
                continue
            data: dict[str, Any] = {"customFields": {}}
            for name, value in zip(checked.fields, values, strict=False):
                if name is None:
                    continue
                if name.startswith("customFields."):
                    data["customFields"][name.removeprefix("customFields.")] = value
                else:
                    data[name] = value
            data["source"] = Source.CSV
            cleaned = rules.clean(data, from_text=True)
            reasons = [
                f"{labels.get(name, name)}: {message}"
                for name, messages in cleaned.errors.items()
                for message in messages
            ]
            reference = cleaned.values.get("external_reference_id")
            if reference and reference in seen_references:
                reasons.append(
                    f"{labels['externalReferenceId']}: repeats line {seen_references[reference]}."
                )
            elif reference:
                seen_references[reference] = line_index
            if reasons:
                checked.bad.append(BadRow(line_index, reasons, values))
            else:
                checked.good.append((line_index, cleaned.values))
    except csv.Error as error:
        checked.error = f"The file is not valid CSV near line {rows.line_num}: {error}."  # type: ignore[attr-defined]
        return checked
    _refuse_existing_references(agent, checked, labels.get("externalReferenceId", ""))
    return checked


def _refuse_existing_references(agent: Agent, checked: CheckedCsv, label: str) -> None:
    references = [v["external_reference_id"] for _, v in checked.good if v["external_reference_id"]]
    if not references:
        return
    existing: set[str] = set()
    for start in range(0, len(references), 500):
        chunk = references[start : start + 500]
        found = Contact.objects.for_agent(agent).filter(external_reference_id__in=chunk)
        existing.update(found.values_list("external_reference_id", flat=True))
    if not existing:
        return
    still_good = []
    for line, values in checked.good:
        if values["external_reference_id"] in existing:
            reason = f"{label}: a contact with this id already exists."
            checked.bad.append(BadRow(line, [reason], []))
        else:
            still_good.append((line, values))
    checked.good = still_good
    checked.bad.sort(key=lambda row: row.line)


def import_rows(
    agent: Agent, rows: Iterable[dict[str, Any]], *, batch_size: int = BATCH_SIZE
) -> int:
    """Insert checked rows (`CheckedCsv.good` values) in one transaction; returns how many.
    ImportFailed (and nothing imported) if another writer took one of their ids meanwhile."""
    contacts = [Contact(agent=agent, **values) for values in rows]
    try:
        with transaction.atomic():
            Contact.objects.bulk_create(contacts, batch_size=batch_size)
    except IntegrityError:
        raise ImportFailed(
            "Another contact with one of these external reference ids was created meanwhile; "
            "nothing was imported. Check the file again."
        ) from None
    return len(contacts)
