from __future__ import annotations

from django.urls import path

from apikeys import views, webhook_views

prefix = "agents/<str:agent_id>/api-permissions/"

app_name = "apikeys"

urlpatterns = [
    path(prefix, views.key_list, name="api-permissions"),
    path(f"{prefix}new/", views.key_create, name="api-key-new"),
    # Before the key's own paths: a key id never reads "webhooks", but the pattern would match.
    path(f"{prefix}webhooks/", webhook_views.webhook_list, name="webhooks"),
    path(f"{prefix}webhooks/new/", webhook_views.webhook_new, name="webhook-new"),
    path(
        f"{prefix}webhooks/<str:endpoint_id>/delete/",
        webhook_views.webhook_delete,
        name="webhook-delete",
    ),
    path(
        f"{prefix}webhooks/<str:endpoint_id>/test/", webhook_views.webhook_test, name="webhook-test"
    ),
    path(f"{prefix}<str:key_id>/", views.key_detail, name="api-key-detail"),
    path(f"{prefix}<str:key_id>/edit/", views.key_edit, name="api-key-edit"),
    path(
        f"{prefix}<str:key_id>/least-privilege/<str:what>/",
        views.key_narrow,
        name="api-key-narrow",
    ),
    path(f"{prefix}<str:key_id>/end-grace/", views.key_end_grace, name="api-key-end-grace"),
    path(f"{prefix}<str:key_id>/rotate/", views.key_rotate, name="api-key-rotate"),
    path(f"{prefix}<str:key_id>/delete/", views.key_delete, name="api-key-delete"),
    path(f"{prefix}<str:key_id>/copy/", views.key_reveal, name="api-key-reveal"),
]
