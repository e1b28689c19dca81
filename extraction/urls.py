from __future__ import annotations

from django.urls import path

from extraction import views

urlpatterns = [
    path("agents/<str:agent_id>/documents/", views.document_list, name="documents"),
]
