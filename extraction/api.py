"""`/v1/open/document-extraction/…/chatbots/<AGENT_ID>`: upload, poll, review, re-run, delete."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile

from a2v2.api import JsonParser
from a2v2.envelope import ApiError, Envelope, ListEnvelope, ok, pagination
from a2v2.http import ApiRequest
from a2v2.lib.text import NUL_MESSAGE, paths_with_nul
from a2v2.uploads import refuse_bodies_over, refuse_nul_in_file_name
from accounts.models import AuditAction
from apikeys.models import Action, Area, Permission
from apikeys.permissions import requires
from extraction import pipeline
from extraction.contacts import contact_of
from extraction.models import Document
from extraction.models import Status as JobStatus
from extraction.tasks import enqueue, recover_stale_jobs

router = Router(tags=["document extraction"])
AGENT_PATH = "/chatbots/{agent_id}"
ONE_PATH = "/{document_id}/chatbots/{agent_id}"
FIELD_TYPES = {"text", "number", "date", "money", "email", "phone"}


class Failure(Schema):
    code: str
    reason: str


class DocumentOut(Schema):
    id: str
    fileName: str
    size: int
    mediaType: str
    documentType: str | None
    status: Literal["queued", "processing", "succeeded", "failed"]
    failure: Failure | None
    attempts: int
    createdAt: datetime
    startedAt: datetime | None
    finishedAt: datetime | None
    fields: list[dict[str, Any]]
    entities: dict[str, Any]
    keyValues: list[dict[str, Any]]
    pages: list[dict[str, Any]] | None = None
    warnings: list[str]


class ListQuery(Schema):
    page: int = Field(1, ge=1, le=1_000_000)
    limit: int = Field(20, ge=1, le=100)
    status: Literal["queued", "processing", "succeeded", "failed"] | None = None


class Correction(Schema):
    fields: dict[str, Any]


class DocumentDeleted(Schema):
    id: str


def serialize(document: Document, *, with_pages: bool = True) -> dict[str, Any]:
    result = document.result or {}
    return {
        "id": document.public_id,
        "fileName": document.original_name,
        "size": document.size,
        "mediaType": document.media_type,
        "documentType": result.get("doc_type") or document.requested_type or None,
        "status": document.status,
        "failure": {"code": document.failure_code, "reason": document.failure_reason}
        if document.status == JobStatus.FAILED
        else None,
        "attempts": document.attempts,
        "createdAt": document.created_at,
        "startedAt": document.started_at,
        "finishedAt": document.finished_at,
        "fields": document.fields,
        "entities": result.get("entities", {}),
        "keyValues": result.get("key_values", []),
        "pages": result.get("pages", []) if with_pages else None,
        "warnings": result.get("warnings", []),
    }


def parse_schema(raw: str | None) -> list[dict[str, str]]:
    if not raw:
        return []
    try:
        schema = json.loads(raw)
    except ValueError:
        raise ApiError(
            422, errors={"schema": ["Must be a JSON list of field definitions."]}
        ) from None
    if not isinstance(schema, list) or len(schema) > 50:
        raise ApiError(422, errors={"schema": ["Must be a JSON list of at most 50 fields."]})
    if nul := paths_with_nul(schema, "schema"):
        raise ApiError(422, NUL_MESSAGE, {path: [NUL_MESSAGE] for path in nul})
    cleaned = []
    for index, item in enumerate(schema):
        name = item.get("name") if isinstance(item, dict) else None
        kind = item.get("type", "text") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ApiError(
                422, errors={f"schema.{index}.name": ["A field needs a name (≤100 characters)."]}
            )
        if kind not in FIELD_TYPES:
            raise ApiError(
                422,
                errors={f"schema.{index}.type": [f"Use one of {', '.join(sorted(FIELD_TYPES))}."]},
            )
        cleaned.append(
            {"name": name.strip(), "type": kind, "hint": str(item.get("hint", ""))[:200]}
        )
    return cleaned


def get_document(request: ApiRequest, document_id: str) -> Document:
    documents = Document.objects.for_agent(request.api_key.agent)
    document = documents.filter(public_id=document_id).first()
    if document is None:
        raise ApiError(404, "Document not found.")
    if document.status == JobStatus.PROCESSING and document.lease_expired:
        # Its worker died: a poll is as good a moment as any to put it back in the queue.
        recover_stale_jobs()
        document.refresh_from_db()
    return document


def audit(request: ApiRequest, action: AuditAction, document: Document, description: str) -> None:
    document.record(action, description, request=request, actor=request.api_key.actor)


UPLOAD = requires(Area.DOCUMENTS, Action.CREATE)


@router.post(
    AGENT_PATH,
    auth=UPLOAD,
    response={202: Envelope[DocumentOut]},
    summary="Upload a document for extraction (answered with a job to poll)",
)
@decorate_view(refuse_bodies_over(lambda: settings.EXTRACTION_LIMITS["max_bytes"], UPLOAD))
def create_document(
    request: ApiRequest,
    agent_id: str,
    file: File[UploadedFile],
    documentType: Form[Literal["receipt", "invoice", "contact", "generic"] | None] = None,
    field_schema: str | None = Form(None, alias="schema"),
) -> Status:
    refuse_nul_in_file_name(file)
    fields = parse_schema(field_schema)
    try:
        document = Document.receive(
            request.api_key.agent,
            file.name or "upload",
            file.read(),
            requested_type=documentType or "",
            schema=fields,
            request=request,
            actor=request.api_key.actor,
        )
    except pipeline.ExtractionError as error:
        raise ApiError(error.http_status, str(error), {"file": [str(error)]}) from None
    return Status(202, ok(serialize(document), "Document accepted; poll it for the result."))


@router.get(
    AGENT_PATH,
    auth=requires(Area.DOCUMENTS, Action.READ),
    response=ListEnvelope[DocumentOut],
    summary="List documents (newest first)",
)
def list_documents(request: ApiRequest, agent_id: str, query: Query[ListQuery]) -> dict[str, Any]:
    documents = Document.objects.for_agent(request.api_key.agent)
    if query.status:
        documents = documents.filter(status=query.status)
    total = documents.count()
    start = (query.page - 1) * query.limit
    page = documents[start : start + query.limit]
    return ok(
        [serialize(d, with_pages=False) for d in page],
        pagination=pagination(query.page, query.limit, total),
    )


@router.get(
    ONE_PATH,
    auth=requires(Area.DOCUMENTS, Action.READ),
    response=Envelope[DocumentOut],
    summary="Read one document: status, text per page, fields, entities",
)
def read_document(request: ApiRequest, agent_id: str, document_id: str) -> dict[str, Any]:
    return ok(serialize(get_document(request, document_id)))


@router.patch(
    ONE_PATH,
    auth=requires(Area.DOCUMENTS, Action.UPDATE),
    response=Envelope[DocumentOut],
    summary="Correct field values (human review)",
)
def correct_document(
    request: ApiRequest, agent_id: str, document_id: str, payload: Correction
) -> dict[str, Any]:
    document = get_document(request, document_id)
    errors = Document.correction_errors(payload.fields)
    if errors:
        raise ApiError(422, errors=errors)
    document.correct(payload.fields, request=request, actor=request.api_key.actor)
    return ok(serialize(document), "Fields corrected.")


@router.post(
    ONE_PATH + "/rerun",
    auth=requires(Area.DOCUMENTS, Action.UPDATE),
    response={202: Envelope[DocumentOut], 409: dict},
    summary="Run the extraction again",
)
def rerun_document(request: ApiRequest, agent_id: str, document_id: str) -> Status:
    """Finished jobs run again. A queued job whose message went out more than
    EXTRACTION_RESEND_AFTER_SECONDS ago is sent again (it still runs once: the row decides);
    sooner, or while processing (the lease covers a dead worker), the answer is 409."""
    document = get_document(request, document_id)
    if document.status == JobStatus.PROCESSING:
        raise ApiError(409, "The document is being processed.")
    if document.status == JobStatus.QUEUED:
        wait = settings.EXTRACTION_RESEND_AFTER_SECONDS - document.waiting_seconds
        if wait > 0 or not document.take_resend_turn():
            raise ApiError(409, "The document is already queued.", retry_after=max(1, int(wait)))
        enqueue(document)
        audit(request, AuditAction.UPDATE, document, "Sent a waiting extraction job again")
        return Status(202, ok(serialize(document), "Document sent to the queue again."))
    document.requeue()
    enqueue(document)
    audit(request, AuditAction.UPDATE, document, "Re-ran the extraction")
    return Status(202, ok(serialize(document), "Document queued again."))


@router.delete(
    ONE_PATH,
    auth=requires(Area.DOCUMENTS, Action.DELETE),
    response=Envelope[DocumentDeleted],
    summary="Delete a document, its file and its results",
)
def delete_document(request: ApiRequest, agent_id: str, document_id: str) -> dict[str, Any]:
    document = get_document(request, document_id)
    audit(request, AuditAction.DELETE, document, "Deleted a document and its results")
    document.delete()
    return ok({"id": document_id}, "Document deleted.")


class ContactOverrides(Schema):
    """Values that take precedence over what was extracted."""

    name: str | None = None
    email: str | None = None
    mobileNumber: str | None = None
    externalReferenceId: str | None = None


def _empty_form(request: ApiRequest) -> bool:
    """A form with no field at all (what some clients send for a bare POST) is no body."""
    forms = ("multipart/form-data", "application/x-www-form-urlencoded")
    return request.content_type in forms and not request.POST and not request.FILES


def overrides_of(request: ApiRequest) -> ContactOverrides:
    """The optional JSON body: an empty body means "use what was extracted". A body is
    held to the rules of every JSON body (JsonParser: 415, 400, NUL 422)."""
    if not request.body.strip() or _empty_form(request):
        return ContactOverrides()
    data = JsonParser().parse_body(request)
    try:
        return ContactOverrides.model_validate(data)
    except ValueError as error:
        raise ApiError(422, "The body must be a JSON object of contact fields.") from error


@router.post(
    ONE_PATH + "/contact",
    auth=requires(Area.DOCUMENTS, Action.READ, Permission(Area.CONTACTS, Action.CREATE)),
    response={200: dict, 201: dict},
    summary="Create a contact from the extraction (deduplicated on email and phone)",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": ContactOverrides.model_json_schema()}},
        }
    },
)
def contact_from_document(request: ApiRequest, agent_id: str, document_id: str) -> Status:
    overrides = overrides_of(request)  # the body first, as ninja does for declared bodies
    document = get_document(request, document_id)
    if document.status != JobStatus.SUCCEEDED:
        raise ApiError(
            409, "The extraction has not succeeded; there is nothing to make a contact of."
        )
    created, contact = contact_of(request, document, overrides.model_dump(exclude_none=True))
    message = (
        "Contact created." if created else "A contact with this email or phone already exists."
    )
    data = {"created": created, "contact": contact.to_dict()}
    return Status(201 if created else 200, ok(data, message))
