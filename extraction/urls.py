from __future__ import annotations

from django.urls import path

from extraction import views

app_name = "extraction"

urlpatterns = [
    path("agents/<str:agent_id>/documents/", views.document_list, name="documents"),
    path("agents/<str:agent_id>/documents/upload/", views.document_upload, name="document-upload"),
    path(
        "agents/<str:agent_id>/documents/<str:document_id>/",
        views.document_detail,
        name="document-detail",
    ),
    path(
        "agents/<str:agent_id>/documents/<str:document_id>/fields/",
        views.document_field,
        name="document-field",
    ),
    path(
        "agents/<str:agent_id>/documents/<str:document_id>/fields/edit/",
        views.document_field_edit,
        name="document-field-edit",
    ),
    path(
        "agents/<str:agent_id>/documents/<str:document_id>/preview/<int:page>.png",
        views.document_preview,
        name="document-preview",
    ),
    path(
        "agents/<str:agent_id>/documents/<str:document_id>/delete/",
        views.document_delete,
        name="document-delete",
    ),
]
