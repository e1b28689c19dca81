from __future__ import annotations

from django.urls import path

from contacts import views

prefix = "agents/<str:agent_id>/contacts/"
app_name = "contacts"

urlpatterns = [
    path(prefix, views.contact_list, name="contacts"),
    path(f"{prefix}new/", views.contact_add, name="contact-add"),
    path(f"{prefix}import/", views.contact_import, name="contact-import"),
    path(f"{prefix}import/confirm/", views.contact_import_confirm, name="contact-import-confirm"),
    path(f"{prefix}fields/", views.custom_fields, name="contact-fields"),
    path(
        f"{prefix}fields/<int:field_id>/delete/",
        views.custom_field_delete,
        name="contact-field-delete",
    ),
    path(f"{prefix}<str:contact_id>/", views.contact_detail, name="contact-detail"),
    path(f"{prefix}<str:contact_id>/edit/", views.contact_edit, name="contact-edit"),
    path(f"{prefix}<str:contact_id>/archive/", views.contact_archive, name="contact-archive"),
    path(f"{prefix}<str:contact_id>/delete/", views.contact_delete, name="contact-delete"),
    path(
        f"{prefix}<str:contact_id>/files/<str:file_id>/",
        views.contact_file,
        name="contact-file",
    ),
]
