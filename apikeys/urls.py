from __future__ import annotations

from django.urls import path

from apikeys import views

urlpatterns = [
    path("agents/<str:agent_id>/api-permissions/", views.key_list, name="api-permissions"),
]
