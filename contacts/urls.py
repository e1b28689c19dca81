from __future__ import annotations

from django.urls import path

from contacts import views

urlpatterns = [
    path("agents/<str:agent_id>/contacts/", views.contact_list, name="contacts"),
]
