"""CRM → Contacts: what integrations wrote, and the admins' own edits and CSV imports.

Every member may look; Owners and Admins add, edit, import, archive and delete (others
get 403). Every view calls `agent_access()` first, so strangers get 404.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from a2v2.http import AuthenticatedHttpRequest
from a2v2.uploads import too_large_message
from accounts.access import AgentAccess, agent_access
from accounts.models import AuditAction
from contacts import importing
from contacts.forms import ContactForm, CsvImportForm, CustomFieldForm
from contacts.models import Contact, ContactCount, CustomField, Source
from contacts.validation import ContactRules

PAGE_SIZE = 25
DUPLICATE_WARNING = "A user with similar details already exists"
PREVIEW_ROWS = 20


def _contact(access: AgentAccess, contact_id: str) -> Contact:
    contacts = Contact.objects.for_agent(access.agent).select_related("owner")
    contact = get_object_or_404(contacts, public_id=contact_id)
    contact.agent = access.agent
    return contact


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() and int(value) > 0 else 1


@login_required
@vary_on_headers("HX-Request")
def contact_list(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id)
    query = request.GET.get("q", "").strip()[:100]
    show_archived = request.GET.get("archived") == "1"
    contacts = Contact.objects.for_agent(access.agent).filter(archived=show_archived)
    everyone = ContactCount.of(access.agent)
    if query:
        contacts = contacts.search(query)
        total = contacts.count()
    else:
        total = everyone.archived if show_archived else everyone.visible
    page = _page_number(request.GET.get("page"))
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    context = {
        "access": access,
        "section": "contacts",
        "contacts": contacts.page(page, PAGE_SIZE, total),
        "count": everyone.visible,
        "archived_count": everyone.archived,
        "total": total,
        "query": query,
        "show_archived": show_archived,
        "page": page,
        "pages": pages,
    }
    template = "contacts/contact_list.html"
    return render(request, f"{template}#results" if request.htmx else template, context)


@login_required
def contact_detail(
    request: AuthenticatedHttpRequest, agent_id: str, contact_id: str
) -> HttpResponse:
    access = agent_access(request, agent_id)
    contact = _contact(access, contact_id)
    definitions = {f.key: f for f in CustomField.objects.for_agent(access.agent)}
    custom = [
        (definitions[key].label, value)
        for key, value in contact.custom_fields.items()
        if key in definitions
    ]
    context = {
        "access": access,
        "section": "contacts",
        "contact": contact,
        "custom": custom,
        "files": contact.files.all(),
    }
    return render(request, "contacts/contact_detail.html", context)


@login_required
def contact_file(
    request: AuthenticatedHttpRequest, agent_id: str, contact_id: str, file_id: str
) -> FileResponse:
    access = agent_access(request, agent_id)
    contact = _contact(access, contact_id)
    stored = get_object_or_404(contact.files, public_id=file_id)
    return FileResponse(
        stored.file.open("rb"),
        as_attachment=True,
        filename=stored.original_name,
        content_type=stored.content_type,
    )


def _save_contact_form(
    request: AuthenticatedHttpRequest, access: AgentAccess, contact: Contact | None
) -> HttpResponse:
    rules = ContactRules(access.agent)
    editing = contact is not None
    initial = ContactForm.initial_for(contact) if contact else {}
    form = ContactForm(request.POST or None, rules=rules, initial=initial)
    duplicates: list[Contact] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            duplicates = _duplicates(access, form.values, contact)
            if not duplicates or form.cleaned_data["confirm_duplicate"]:
                saved = _store(request, access, form.values, contact)
                if saved is not None:
                    messages.success(request, "Contact updated." if editing else "Contact added.")
                    return redirect(
                        "contact-detail",
                        agent_id=access.agent.public_id,
                        contact_id=saved.public_id,
                    )
                form.add_error(
                    "external_reference_id", "Another contact already has this external id."
                )
        status = 422 if form.errors else 200
    context = {
        "access": access,
        "section": "contacts",
        "form": form,
        "contact": contact,
        "duplicates": duplicates,
        "duplicate_warning": DUPLICATE_WARNING,
    }
    return render(request, "contacts/contact_form.html", context, status=status)


def _duplicates(
    access: AgentAccess, values: dict[str, Any], contact: Contact | None
) -> list[Contact]:
    similar = Contact.objects.for_agent(access.agent).similar_to(
        values["email"], values["mobile_number"]
    )
    if contact is not None:
        similar = similar.exclude(pk=contact.pk)
        if values["email"] == contact.email and values["mobile_number"] == contact.mobile_number:
            return []
    return list(similar.order_by("-created_at")[:5])


def _store(
    request: AuthenticatedHttpRequest,
    access: AgentAccess,
    values: dict[str, Any],
    contact: Contact | None,
) -> Contact | None:
    try:
        if contact is None:
            contact = Contact(agent=access.agent, **{**values, "source": Source.FORM})
            contact.create(request=request)
        else:
            contact.update(values, request=request)
    except IntegrityError:
        return None
    return contact


@login_required
def contact_add(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id, manage=True)
    return _save_contact_form(request, access, None)


@login_required
def contact_edit(request: AuthenticatedHttpRequest, agent_id: str, contact_id: str) -> HttpResponse:
    access = agent_access(request, agent_id, manage=True)
    return _save_contact_form(request, access, _contact(access, contact_id))


@login_required
@require_POST
def contact_archive(
    request: AuthenticatedHttpRequest, agent_id: str, contact_id: str
) -> HttpResponse:
    access = agent_access(request, agent_id, manage=True)
    contact = _contact(access, contact_id)
    contact.set_archived(not contact.archived, request=request)
    messages.success(request, "Contact archived." if contact.archived else "Contact restored.")
    return redirect("contact-detail", agent_id=access.agent.public_id, contact_id=contact_id)


@login_required
def contact_delete(
    request: AuthenticatedHttpRequest, agent_id: str, contact_id: str
) -> HttpResponse:
    access = agent_access(request, agent_id, manage=True)
    contact = _contact(access, contact_id)
    if request.method == "POST":
        with transaction.atomic():
            contact.record(AuditAction.DELETE, "Deleted contact", request=request)
            contact.delete()
        messages.success(request, "Contact deleted.")
        return redirect("contacts", agent_id=access.agent.public_id)
    context = {"access": access, "section": "contacts", "contact": contact}
    return render(request, "contacts/contact_delete.html", context)


# --- CSV import -------------------------------------------------------------------------


@login_required
def contact_import(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    """Step 1: upload. Step 2: the preview, each bad row with its reason."""
    access = agent_access(request, agent_id, manage=True)
    form = CsvImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"access": access, "section": "contacts", "form": form}
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        limit = settings.CONTACT_FILE_MAX_BYTES
        if upload.size > limit:
            form.add_error("file", too_large_message(limit))
        else:
            text = importing.decode(upload.read())
            checked = importing.read_csv(access.agent, text)
            if checked.error:
                form.add_error("file", checked.error)
            else:
                token = secrets.token_hex(16)
                default_storage.save(
                    importing.staged_path(access.agent, token), ContentFile(text.encode())
                )
                context.update(checked=checked, token=token, preview=checked.good[:PREVIEW_ROWS])
                return render(request, "contacts/contact_import.html", context)
    status = 422 if form.errors else 200
    return render(request, "contacts/contact_import.html", context, status=status)


@login_required
@require_POST
def contact_import_confirm(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    """Step 3: import the good rows of the previewed file, in one transaction."""
    access = agent_access(request, agent_id, manage=True)
    token = request.POST.get("token", "")
    if not token.isalnum() or len(token) != 32:
        raise Http404
    path = importing.staged_path(access.agent, token)
    if not default_storage.exists(path):
        messages.error(request, "This import has expired; upload the file again.")
        return redirect("contact-import", agent_id=access.agent.public_id)
    with default_storage.open(path, "rb") as stored:
        checked = importing.read_csv(access.agent, importing.decode(stored.read()))
    try:
        with transaction.atomic():
            imported = importing.import_rows(access.agent, [v for _, v in checked.good])
            if imported:
                _record_import(request, access, imported)
    except importing.ImportFailed as failure:
        messages.error(request, str(failure))
        return redirect("contact-import", agent_id=access.agent.public_id)
    default_storage.delete(path)
    skipped = len(checked.bad)
    note = ""
    if skipped:
        rows = "row with problems was" if skipped == 1 else "rows with problems were"
        note = f" {skipped} {rows} skipped."
    messages.success(request, f"Imported {imported} contact{pluralize(imported)}.{note}")
    return redirect("contacts", agent_id=access.agent.public_id)


def _record_import(request: AuthenticatedHttpRequest, access: AgentAccess, count: int) -> None:
    from accounts.models import AuditEvent

    AuditEvent.record(
        action=AuditAction.CREATE,
        resource="Contacts",
        description=f"Imported {count} contact{pluralize(count)} from a CSV file",
        organization=access.agent.organization,
        agent=access.agent,
        request=request,
    )


# --- custom fields ----------------------------------------------------------------------


@login_required
def custom_fields(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id, manage=request.method == "POST")
    form = CustomFieldForm(request.POST or None, agent=access.agent)
    if request.method == "POST" and form.is_valid():
        field = form.save()
        messages.success(request, f'Custom field "{field.label}" added.')
        return redirect("contact-fields", agent_id=access.agent.public_id)
    context = {
        "access": access,
        "section": "contacts",
        "form": form,
        "fields": CustomField.objects.for_agent(access.agent),
    }
    return render(
        request, "contacts/custom_fields.html", context, status=422 if form.errors else 200
    )


@login_required
@require_POST
def custom_field_delete(
    request: AuthenticatedHttpRequest, agent_id: str, field_id: int
) -> HttpResponse:
    access = agent_access(request, agent_id, manage=True)
    field = get_object_or_404(CustomField.objects.for_agent(access.agent), pk=field_id)
    field.delete()
    messages.success(request, f'Custom field "{field.label}" removed.')
    return redirect("contact-fields", agent_id=access.agent.public_id)
