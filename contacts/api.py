"""The Open API's contact endpoints (PRODUCT.md section 6), under `/v1/open/contacts`.

Every path ends in `/chatbots/<AGENT_ID>`; `requires(...)` has already checked that it is
the key's agent and that the key holds the operation's permission. Every query below
starts from `Contact.objects.for_agent(request.api_key.agent)`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from django.urls import reverse
from ninja import Body, File, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from pydantic import ConfigDict, Field

from a2v2.api import api
from a2v2.envelope import (
    ApiError,
    Envelope,
    ErrorEnvelope,
    ListEnvelope,
    Pagination,
    ok,
    pagination,
)
from a2v2.http import ApiRequest
from a2v2.uploads import refuse_bodies_over, refuse_nul_in_file_name, too_large_message
from accounts.models import AuditAction
from apikeys.models import Action, Area
from apikeys.permissions import requires
from contacts import cursors, filetypes
from contacts.models import (
    Contact,
    ContactCount,
    ContactFile,
    CustomField,
    Gender,
    Source,
    Stage,
)
from contacts.models import (
    Status as ContactStatus,
)
from contacts.validation import ContactRules, choice, validated

router = Router(tags=["contacts"])

READ = requires(Area.CONTACTS, Action.READ)
CREATE = requires(Area.CONTACTS, Action.CREATE)
UPDATE = requires(Area.CONTACTS, Action.UPDATE)
DELETE = requires(Area.CONTACTS, Action.DELETE)

DUPLICATE_REFERENCE = "A contact with this externalReferenceId already exists."
SORTS = {
    "-createdAt": ("-created_at", "-id"),
    "createdAt": ("created_at", "id"),
    "-updatedAt": ("-updated_at", "-id"),
    "updatedAt": ("updated_at", "id"),
}


def errors(*codes: int) -> dict[int, type[ErrorEnvelope]]:
    return dict.fromkeys((401, 403, 404, 429, *codes), ErrorEnvelope)


# --- schemas ----------------------------------------------------------------------------


def _one_of(choices: Any) -> str:
    return "One of: " + ", ".join(choices.values) + " (case-insensitive)."


class ContactIn(Schema):
    """A contact as a client sends it. Fields it leaves out are emptied on PUT (except
    `externalReferenceId`, kept unless given). The read-only fields a GET returns (`id`,
    `archived`, `createdAt`, `updatedAt`) are accepted and ignored, so a client can send
    back what it received."""

    model_config = ConfigDict(extra="forbid")

    externalReferenceId: str | None = Field(
        None, max_length=100, description="Your id for this person; unique within the agent."
    )
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254, description="Stored lower-cased.")
    mobileNumber: str | None = Field(
        None, max_length=40, description="Any format; stored as E.164 (e.g. +14155552671)."
    )
    gender: str | None = Field(None, description=_one_of(Gender))
    status: str | None = Field(None, description=_one_of(ContactStatus) + " Default Active.")
    stage: str | None = Field(None, description=_one_of(Stage))
    ownerEmail: str | None = Field(None, description="Email of a member of the workspace.")
    customFields: dict[str, Any] | None = Field(
        None, description="Values of the agent's custom fields (see the schema endpoint)."
    )
    source: str | None = Field(
        None, description=_one_of(Source) + " Default api; set on create only."
    )
    id: str | None = Field(None, description="Read-only; ignored.")
    archived: bool | None = Field(None, description="Read-only; use the archive endpoint.")
    createdAt: dt.datetime | None = Field(None, description="Read-only; ignored.")
    updatedAt: dt.datetime | None = Field(None, description="Read-only; ignored.")


READ_ONLY = {"id", "archived", "createdAt", "updatedAt"}


class ContactOut(Schema):
    id: str = Field(description="The contact id (24 hex characters), used in mantisid paths.")
    externalReferenceId: str | None
    name: str
    email: str | None
    mobileNumber: str | None
    gender: str | None
    status: str
    stage: str | None
    ownerEmail: str | None
    customFields: dict[str, Any]
    source: str
    archived: bool
    createdAt: dt.datetime
    updatedAt: dt.datetime


class ContactPagination(Pagination):
    nextCursor: str | None = Field(
        description="Send it as `cursor` (with the same filters and sort) for the next page; "
        "null on the last page."
    )


class ContactListEnvelope(ListEnvelope[ContactOut]):
    pagination: ContactPagination


class DeletedData(Schema):
    id: str
    deleted: bool


class FieldOut(Schema):
    key: str
    label: str
    type: Literal["text", "email", "phone", "number", "date", "boolean", "choice", "object"]
    required: bool
    readOnly: bool = False
    choices: list[str] | None = None


class SchemaData(Schema):
    defaultFields: list[FieldOut]
    customFields: list[FieldOut]


class ContactFilters(Schema):
    page: int = Field(1, ge=1, le=1_000_000, description="1-based page number.")
    limit: int = Field(20, ge=1, le=100, description="Contacts per page (at most 100).")
    search: str | None = Field(
        None,
        max_length=100,
        description="Prefix of the name; of the email when it contains @; of the mobile "
        "number when it is a number.",
    )
    status: str | None = None
    stage: str | None = None
    email: str | None = Field(None, max_length=254, description="Exact email.")
    updatedSince: dt.datetime | None = Field(None, description="ISO 8601; UTC when no offset.")
    includeArchived: bool = False
    sort: Literal["-createdAt", "createdAt", "-updatedAt", "updatedAt"] | None = Field(
        None, description="Default: newest first; a search orders by what it matched."
    )
    cursor: str | None = Field(
        None,
        max_length=1000,
        description="From `pagination.nextCursor`: the page after the one that returned it, "
        "read straight from the index however deep (instead of `page`). Works with every "
        "filter, search and sort; send the same ones again.",
    )


class ArchiveIn(Schema):
    model_config = ConfigDict(extra="forbid")
    archived: bool = Field(True, description="false restores an archived contact.")


class FileOut(Schema):
    id: str
    name: str
    size: int
    contentType: str
    sha256: str
    uploadedAt: dt.datetime
    downloadUrl: str


class FileFilters(Schema):
    page: int = Field(1, ge=1, le=1_000_000)
    limit: int = Field(20, ge=1, le=100)


# --- helpers ----------------------------------------------------------------------------


def file_data(request: ApiRequest, stored: ContactFile, contact: Contact) -> dict[str, Any]:
    url = reverse(
        "open-api:download_contact_file",
        kwargs={
            "agent_id": request.api_key.agent.public_id,
            "contact_id": contact.public_id,
            "file_id": stored.public_id,
        },
    )
    return {
        "id": stored.public_id,
        "name": stored.original_name,
        "size": stored.size,
        "contentType": stored.content_type,
        "sha256": stored.sha256,
        "uploadedAt": stored.uploaded_at,
        "downloadUrl": url,
    }


def find_contact(request: ApiRequest, *, for_update: bool = False, **lookup: str) -> Contact:
    agent = request.api_key.agent
    if not all(lookup.values()):
        raise ApiError(404, "Contact not found.")
    contacts = Contact.objects.for_agent(agent)
    contacts = contacts.select_for_update() if for_update else contacts.select_related("owner")
    contact = contacts.filter(**lookup).first()
    if contact is None:
        raise ApiError(404, "Contact not found.")
    contact.agent = agent
    return contact


def check_if_match(request: ApiRequest, contact: Contact) -> None:
    header = request.headers.get("If-Match")
    if header is not None and not contact.matches_etag(header):
        raise ApiError(
            412,
            "The contact was changed since you read it. Fetch it again and retry.",
            {"If-Match": [f"The current ETag is {contact.etag}."]},
        )


def input_of(payload: ContactIn) -> dict[str, Any]:
    return {k: v for k, v in payload.model_dump(exclude_unset=True).items() if k not in READ_ONLY}


def duplicate_reference() -> ApiError:
    return ApiError(409, DUPLICATE_REFERENCE, {"externalReferenceId": [DUPLICATE_REFERENCE]})


def with_etag(response: HttpResponse, contact: Contact) -> None:
    response["ETag"] = contact.etag


# --- schema, create, list ---------------------------------------------------------------

DEFAULT_FIELDS = [
    {"key": "id", "label": "Contact id", "type": "text", "required": False, "readOnly": True},
    {"key": "externalReferenceId", "label": "External reference id", "type": "text",
     "required": False},
    {"key": "name", "label": "Name", "type": "text", "required": False},
    {"key": "email", "label": "Primary email", "type": "email", "required": False},
    {"key": "mobileNumber", "label": "Mobile number", "type": "phone", "required": False},
    {"key": "gender", "label": "Gender", "type": "choice", "required": False,
     "choices": list(Gender.values)},
    {"key": "status", "label": "Status", "type": "choice", "required": False,
     "choices": list(ContactStatus.values)},
    {"key": "stage", "label": "Stage", "type": "choice", "required": False,
     "choices": list(Stage.values)},
    {"key": "ownerEmail", "label": "Owner", "type": "email", "required": False},
    {"key": "customFields", "label": "Custom fields", "type": "object", "required": False},
    {"key": "source", "label": "Source", "type": "choice", "required": False,
     "choices": list(Source.values)},
    {"key": "archived", "label": "Archived", "type": "boolean", "required": False,
     "readOnly": True},
    {"key": "createdAt", "label": "Created", "type": "date", "required": False, "readOnly": True},
    {"key": "updatedAt", "label": "Updated", "type": "date", "required": False, "readOnly": True},
]  # fmt: skip


@router.get(
    "/schema/chatbots/{agent_id}",
    auth=READ,
    response={200: Envelope[SchemaData], **errors()},
    summary="Default and custom contact fields with their types",
    description="At least one of email and mobileNumber is required on every contact.",
)
def contact_schema(request: ApiRequest, agent_id: str) -> dict[str, Any]:
    custom = [
        {
            "key": field.key,
            "label": field.label,
            "type": field.type,
            "required": field.required,
            "choices": field.choices or None,
        }
        for field in CustomField.objects.for_agent(request.api_key.agent)
    ]
    return ok({"defaultFields": DEFAULT_FIELDS, "customFields": custom}, "Contact fields.")


@router.post(
    "/chatbots/{agent_id}",
    auth=CREATE,
    response={201: Envelope[ContactOut], **errors(409, 422)},
    summary="Create a contact",
)
def create_contact(
    request: ApiRequest, agent_id: str, payload: ContactIn, response: HttpResponse
) -> Status:
    agent = request.api_key.agent
    values = validated(ContactRules(agent), input_of(payload))
    contact = Contact(agent=agent, **values)
    try:
        contact.create(request=request, actor=request.api_key.actor)
    except IntegrityError:
        reference = contact.external_reference_id
        if (
            reference
            and Contact.objects.for_agent(agent).filter(external_reference_id=reference).exists()
        ):
            raise duplicate_reference() from None
        raise
    with_etag(response, contact)
    response["Location"] = reverse(
        "open-api:get_contact_by_id", kwargs={"agent_id": agent_id, "contact_id": contact.public_id}
    )
    return Status(201, ok(contact.to_dict(), "Contact created."))


@router.get(
    "/chatbots/{agent_id}",
    auth=READ,
    response={200: ContactListEnvelope, **errors(422)},
    summary="List contacts (filters, search, pagination)",
)
def list_contacts(
    request: ApiRequest, agent_id: str, filters: Query[ContactFilters]
) -> HttpResponse:
    agent = request.api_key.agent
    contacts = Contact.objects.for_agent(agent)
    if not filters.includeArchived:
        contacts = contacts.visible()
    narrowed = contacts.filter(**_filter_values(filters))
    if filters.email:
        narrowed = narrowed.with_email(filters.email)
    if filters.search:
        narrowed = narrowed.search(filters.search)
    if filters.sort or not filters.search:
        narrowed = narrowed.order_by(*SORTS[filters.sort or "-createdAt"])
    query = cursor_query(agent, filters)
    cursor = _cursor(filters, query)
    filtered = any(
        (filters.search, filters.status, filters.stage, filters.email, filters.updatedSince)
    )
    if filtered:
        total = narrowed.count()
    else:
        total = ContactCount.total(agent, include_archived=filters.includeArchived)
    if cursor is not None:
        position = cursor.position
        found = narrowed.page_after(cursor.key_value, cursor.pk, filters.limit)
    else:
        position = (filters.page - 1) * filters.limit
        found = narrowed.page_at(filters.page, filters.limit, total)
    next_cursor = None
    if found.next_after is not None:
        after = cursors.Cursor(*found.next_after, position=position + len(found.contacts))
        next_cursor = cursors.encode(after, query)
    fields = CustomField.objects.for_agent(agent).key_names() if found.contacts else set()
    body = ok(
        [c.to_dict(fields) for c in found.contacts],
        f"{total} contacts.",
        pagination=pagination(
            position // filters.limit + 1, filters.limit, total, nextCursor=next_cursor
        ),
    )
    # Rendered as ninja renders every answer, but not validated against
    # ContactListEnvelope again: for 100 contacts that took a third of the request's CPU.
    return api.create_response(request, body, status=200)


def cursor_query(agent: Any, filters: ContactFilters) -> str:
    """What a cursor is bound to: the agent, the filters and the sort (not the page)."""
    query = filters.model_dump(exclude={"page", "limit", "cursor"})
    return cursors.query_digest(agent=agent.public_id, **query)


def _cursor(filters: ContactFilters, query: str) -> cursors.Cursor | None:
    if filters.cursor is None:
        return None
    if "page" in filters.model_fields_set:
        raise ApiError(422, "Use either page or cursor.", {"page": ["Leave page out with cursor."]})
    try:
        return cursors.decode(filters.cursor, query)
    except cursors.InvalidCursor as error:
        message = f"{error} Start again from the first page, without cursor."
        raise ApiError(400, message, {"cursor": [str(error)]}) from None


def _filter_values(filters: ContactFilters) -> dict[str, Any]:
    values: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, choices in (("status", ContactStatus), ("stage", Stage)):
        raw = getattr(filters, name)
        if raw:
            try:
                values[name] = choice(raw, choices)
            except ValueError as error:
                problems[name] = [str(error)]
    if filters.updatedSince is not None:
        since = filters.updatedSince
        values["updated_at__gte"] = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    if problems:
        raise ApiError(422, "Some filters are not valid.", problems)
    return values


# --- one contact, by either address -----------------------------------------------------


def _get(request: ApiRequest, response: HttpResponse, **lookup: str) -> Any:
    contact = find_contact(request, **lookup)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and contact.matches_etag(if_none_match):
        not_modified = HttpResponseNotModified()
        not_modified["ETag"] = contact.etag
        return not_modified
    with_etag(response, contact)
    return ok(contact.to_dict(), "Contact found.")


def _replace(
    request: ApiRequest, payload: ContactIn, response: HttpResponse, **lookup: str
) -> dict[str, Any]:
    contact = find_contact(request, **lookup)
    rules = ContactRules(request.api_key.agent)
    data = input_of(payload)
    data.pop("source", None)
    data.setdefault("externalReferenceId", contact.external_reference_id)
    values = validated(rules, data)
    try:
        with transaction.atomic():
            contact = find_contact(request, for_update=True, pk=str(contact.pk))
            check_if_match(request, contact)
            contact.update(values, request=request, actor=request.api_key.actor)
    except IntegrityError:
        raise duplicate_reference() from None
    with_etag(response, contact)
    return ok(contact.to_dict(), "Contact updated.")


def _archive(
    request: ApiRequest, payload: ArchiveIn | None, response: HttpResponse, **lookup: str
) -> dict[str, Any]:
    archived = payload.archived if payload is not None else True
    with transaction.atomic():
        contact = find_contact(request, for_update=True, **lookup)
        check_if_match(request, contact)
        contact.set_archived(archived, request=request, actor=request.api_key.actor)
    with_etag(response, contact)
    return ok(contact.to_dict(), "Contact archived." if archived else "Contact restored.")


def _delete(request: ApiRequest, **lookup: str) -> dict[str, Any]:
    with transaction.atomic():
        contact = find_contact(request, for_update=True, **lookup)
        check_if_match(request, contact)
        public_id = contact.public_id
        contact.record(
            AuditAction.DELETE, "Deleted contact", request=request, actor=request.api_key.actor
        )
        contact.delete()
    return ok({"id": public_id, "deleted": True}, "Contact deleted.")


BY_ID = "/mantisid/{contact_id}/chatbots/{agent_id}"
BY_REFERENCE = "/{external_reference_id}/chatbots/{agent_id}"
ONE = {200: Envelope[ContactOut], 304: None, **errors()}
WRITE = {200: Envelope[ContactOut], **errors(409, 412, 422)}
GONE = {200: Envelope[DeletedData], **errors(412)}


@router.get(BY_ID, auth=READ, response=ONE, summary="Get a contact by contact id")
def get_contact_by_id(
    request: ApiRequest, agent_id: str, contact_id: str, response: HttpResponse
) -> Any:
    return _get(request, response, public_id=contact_id)


@router.put(BY_ID, auth=UPDATE, response=WRITE, summary="Replace a contact by contact id")
def replace_contact_by_id(
    request: ApiRequest, agent_id: str, contact_id: str, payload: ContactIn, response: HttpResponse
) -> dict[str, Any]:
    return _replace(request, payload, response, public_id=contact_id)


@router.patch(
    BY_ID + "/archive",
    auth=UPDATE,
    response={200: Envelope[ContactOut], **errors(412, 422)},
    summary="Archive (or restore) a contact by contact id",
)
def archive_contact_by_id(
    request: ApiRequest,
    agent_id: str,
    contact_id: str,
    response: HttpResponse,
    payload: Body[ArchiveIn | None] = None,
) -> dict[str, Any]:
    return _archive(request, payload, response, public_id=contact_id)


@router.delete(BY_ID, auth=DELETE, response=GONE, summary="Delete a contact by contact id")
def delete_contact_by_id(request: ApiRequest, agent_id: str, contact_id: str) -> dict[str, Any]:
    return _delete(request, public_id=contact_id)


# --- files ------------------------------------------------------------------------------

FILES = "/mantisid/{contact_id}/files/chatbots/{agent_id}"
ONE_FILE = "/mantisid/{contact_id}/files/{file_id}/chatbots/{agent_id}"


@router.post(
    FILES,
    auth=CREATE,
    response={201: Envelope[FileOut], **errors(413, 415, 422)},
    summary="Upload a file to a contact (multipart field `file`)",
    description=f"Allowed: {filetypes.ALLOWED_LABEL}, judged by the file's bytes.",
)
@decorate_view(refuse_bodies_over(lambda: settings.CONTACT_FILE_MAX_BYTES, CREATE))
def upload_contact_file(
    request: ApiRequest, agent_id: str, contact_id: str, file: File[UploadedFile]
) -> Status:
    contact = find_contact(request, public_id=contact_id)
    limit = settings.CONTACT_FILE_MAX_BYTES
    if file.size is None or file.size > limit:
        raise ApiError(413, too_large_message(limit))
    refuse_nul_in_file_name(file)
    try:
        kind = filetypes.check(file)
    except filetypes.UnsupportedFile as error:
        raise ApiError(415, str(error), {"file": [str(error)]}) from None
    stored = attach_file(contact, file, kind)
    record_file_event(request, contact, stored, AuditAction.CREATE)
    return Status(201, ok(file_data(request, stored, contact), "File uploaded."))


def attach_file(contact: Contact, upload: UploadedFile, kind: filetypes.FileKind) -> ContactFile:
    stored = ContactFile(
        contact=contact,
        original_name=(upload.name or f"file.{kind.extensions[0]}")[-255:],
        size=upload.size or 0,
        content_type=kind.content_type,
        sha256=filetypes.sha256_of(upload),
    )
    stored.file.save(f"{stored.public_id}.{kind.extensions[0]}", upload, save=False)
    try:
        stored.save()
    except BaseException:
        stored.file.delete(save=False)
        raise
    return stored


def record_file_event(
    request: ApiRequest, contact: Contact, stored: ContactFile, action: AuditAction
) -> None:
    verb = "Uploaded file" if action == AuditAction.CREATE else "Deleted file"
    contact.record(
        action, f'{verb} "{stored.original_name}" of contact', request=request,
        actor=request.api_key.actor,
    )  # fmt: skip


@router.get(
    FILES,
    auth=READ,
    response={200: ListEnvelope[FileOut], **errors(422)},
    summary="List a contact's files",
)
def list_contact_files(
    request: ApiRequest, agent_id: str, contact_id: str, filters: Query[FileFilters]
) -> dict[str, Any]:
    contact = find_contact(request, public_id=contact_id)
    files = contact.files.all()
    total = files.count()
    start = (filters.page - 1) * filters.limit
    page = files[start : start + filters.limit]
    return ok(
        [file_data(request, stored, contact) for stored in page],
        f"{total} files.",
        pagination=pagination(filters.page, filters.limit, total),
    )


def _find_file(request: ApiRequest, contact_id: str, file_id: str) -> tuple[Contact, ContactFile]:
    contact = find_contact(request, public_id=contact_id)
    stored = contact.files.filter(public_id=file_id).first()
    if stored is None:
        raise ApiError(404, "File not found.")
    return contact, stored


@router.get(
    ONE_FILE,
    auth=READ,
    response={200: None, **errors()},
    url_name="download_contact_file",
    summary="Download a contact's file",
)
def download_contact_file(
    request: ApiRequest, agent_id: str, contact_id: str, file_id: str
) -> FileResponse:
    _, stored = _find_file(request, contact_id, file_id)
    response = FileResponse(
        stored.file.open("rb"),
        as_attachment=True,
        filename=stored.original_name,
        content_type=stored.content_type,
    )
    response["Cache-Control"] = "private, no-store"
    return response


@router.delete(
    ONE_FILE,
    auth=DELETE,
    response={200: Envelope[DeletedData], **errors()},
    summary="Delete a file",
)
def delete_contact_file(
    request: ApiRequest, agent_id: str, contact_id: str, file_id: str
) -> dict[str, Any]:
    contact, stored = _find_file(request, contact_id, file_id)
    with transaction.atomic():
        record_file_event(request, contact, stored, AuditAction.DELETE)
        stored.delete()
    return ok({"id": file_id, "deleted": True}, "File deleted.")


# --- by external reference id (after the fixed paths above, which it would shadow) ------


@router.get(BY_REFERENCE, auth=READ, response=ONE, summary="Get a contact by externalReferenceId")
def get_contact(
    request: ApiRequest, agent_id: str, external_reference_id: str, response: HttpResponse
) -> Any:
    return _get(request, response, external_reference_id=external_reference_id)


@router.put(
    BY_REFERENCE, auth=UPDATE, response=WRITE, summary="Replace a contact by externalReferenceId"
)
def replace_contact(
    request: ApiRequest,
    agent_id: str,
    external_reference_id: str,
    payload: ContactIn,
    response: HttpResponse,
) -> dict[str, Any]:
    return _replace(request, payload, response, external_reference_id=external_reference_id)


@router.patch(
    BY_REFERENCE + "/archive",
    auth=UPDATE,
    response={200: Envelope[ContactOut], **errors(412, 422)},
    summary="Archive (or restore) a contact by externalReferenceId",
)
def archive_contact(
    request: ApiRequest,
    agent_id: str,
    external_reference_id: str,
    response: HttpResponse,
    payload: Body[ArchiveIn | None] = None,
) -> dict[str, Any]:
    return _archive(request, payload, response, external_reference_id=external_reference_id)


@router.delete(
    BY_REFERENCE, auth=DELETE, response=GONE, summary="Delete a contact by externalReferenceId"
)
def delete_contact(request: ApiRequest, agent_id: str, external_reference_id: str) -> Any:
    return _delete(request, external_reference_id=external_reference_id)
