"""The Documents pages: what integrations uploaded, and what was read from each."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_http_methods, require_POST

from a2v2.http import AuthenticatedHttpRequest
from a2v2.uploads import too_large_message
from accounts.access import AgentAccess, agent_access
from accounts.models import AuditAction
from extraction import pipeline
from extraction.models import DocType, Document
from extraction.tasks import limits

IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp"}


def _document(access: AgentAccess, document_id: str) -> Document:
    return get_object_or_404(Document.objects.for_agent(access.agent), public_id=document_id)


@login_required
def document_list(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id)
    documents = Document.objects.for_agent(access.agent).defer("result")
    page = Paginator(documents, 25).get_page(request.GET.get("page"))
    context = {
        "access": access,
        "section": "documents",
        "page": page,
        "doc_types": DocType.choices,
        # The table polls itself while a job on this page is queued or processing.
        "polling": any(document.in_progress for document in page.object_list),
    }
    template = (
        "extraction/document_list.html#table" if request.htmx else "extraction/document_list.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_POST
def document_upload(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id, manage=True)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose a file to upload.")
        return redirect("documents", agent_id=agent_id)
    if upload.size > limits().max_bytes:  # before reading it into memory
        messages.error(request, too_large_message(limits().max_bytes))
        return redirect("documents", agent_id=agent_id)
    try:
        document = Document.receive(
            access.agent,
            upload.name or "upload",
            upload.read(),
            requested_type=request.POST.get("document_type", ""),
            request=request,
        )
    except pipeline.ExtractionError as error:
        messages.error(request, str(error))
        return redirect("documents", agent_id=agent_id)
    messages.success(request, "Document uploaded; extraction has started.")
    return redirect("document-detail", agent_id=agent_id, document_id=document.public_id)


@login_required
def document_detail(
    request: AuthenticatedHttpRequest, agent_id: str, document_id: str
) -> HttpResponse:
    access = agent_access(request, agent_id)
    document = _document(access, document_id)
    if request.htmx and request.GET.get("poll"):
        return _document_status(request, access, document)
    pages = (document.result or {}).get("pages", [])
    context = {
        "access": access,
        "section": "documents",
        "document": document,
        "pages": pages,
        "is_image": document.media_type in IMAGE_TYPES,
        "is_pdf": document.media_type == "application/pdf",
        # Without JavaScript, ?edit=<field> shows that field's correction form in place.
        "editing": request.GET.get("edit") if access.manages_keys else None,
    }
    return render(request, "extraction/document_detail.html", context)


def _document_status(
    request: AuthenticatedHttpRequest, access: AgentAccess, document: Document
) -> HttpResponse:
    """The document page polls this while its job runs; once it has ended, the page reloads
    itself (HX-Refresh) to show the text and fields, and polling stops."""
    context = {"access": access, "document": document}
    response = render(request, "extraction/document_detail.html#status", context)
    if not document.in_progress:
        response["HX-Refresh"] = "true"
    patch_vary_headers(response, ("HX-Request",))
    return response


def _field(document: Document, name: str | None) -> dict:
    field = document.field(name or "")
    if field is None:
        raise Http404("No such field.")
    return field


def _field_context(access: AgentAccess, document: Document, field: dict, **extra) -> dict:
    return {"access": access, "document": document, "field": field, **extra}


@login_required
def document_field(
    request: AuthenticatedHttpRequest, agent_id: str, document_id: str
) -> HttpResponse:
    """One row of the fields table (GET, e.g. Cancel); POST corrects its value in place."""
    access = agent_access(request, agent_id, manage=request.method == "POST")
    document = _document(access, document_id)
    if request.method != "POST":
        field = _field(document, request.GET.get("name"))
        context = _field_context(access, document, field, refocus=True)
        return render(request, "extraction/document_detail.html#field-row", context)
    field = _field(document, request.POST.get("name"))
    typed = request.POST.get("value", "").strip()
    value = typed or None  # an emptied value: the document has none
    errors = Document.correction_errors({field["name"]: value})
    if errors:
        error = errors[field["name"]][0]
        context = _field_context(access, document, field, typed=typed, error=error)
        return render(request, "extraction/document_detail.html#field-form", context, status=422)
    document.correct({field["name"]: value}, request=request)
    if not request.htmx:
        messages.success(request, f"Corrected {field['name']}.")
        return redirect("document-detail", agent_id=agent_id, document_id=document_id)
    context = _field_context(access, document, document.field(field["name"]), refocus=True)
    return render(request, "extraction/document_detail.html#field-row", context)


@login_required
def document_field_edit(
    request: AuthenticatedHttpRequest, agent_id: str, document_id: str
) -> HttpResponse:
    """The in-place correction form of one field (Owners and Admins)."""
    access = agent_access(request, agent_id, manage=True)
    document = _document(access, document_id)
    field = _field(document, request.GET.get("name"))
    context = _field_context(access, document, field)
    return render(request, "extraction/document_detail.html#field-form", context)


@login_required
def document_preview(
    request: AuthenticatedHttpRequest, agent_id: str, document_id: str, page: int = 1
) -> HttpResponse:
    """The page as a picture: the image itself, or a PDF page rendered to PNG."""
    access = agent_access(request, agent_id)
    document = _document(access, document_id)
    if document.media_type in IMAGE_TYPES:
        return FileResponse(document.file.open("rb"), content_type=document.media_type)
    if document.media_type != "application/pdf":
        raise Http404("No preview for this type.")
    with document.file.open("rb") as handle:
        data = handle.read()
    try:
        png = pipeline.render_pdf_page(data, page, limits())
    except pipeline.ExtractionError:
        png = None  # damaged or encrypted: the page says why; there is simply no picture
    if png is None:
        raise Http404("No such page.")
    return HttpResponse(png, content_type="image/png")


@login_required
@require_http_methods(["GET", "POST"])
def document_delete(
    request: AuthenticatedHttpRequest, agent_id: str, document_id: str
) -> HttpResponse:
    """GET asks (the same confirmation page as a contact's), POST deletes."""
    access = agent_access(request, agent_id, manage=True)
    document = _document(access, document_id)
    if request.method == "POST":
        document.record(AuditAction.DELETE, "Deleted a document and its results", request=request)
        document.delete()
        messages.success(request, "Document deleted.")
        return redirect("documents", agent_id=agent_id)
    context = {"access": access, "section": "documents", "document": document}
    return render(request, "extraction/document_delete.html", context)
