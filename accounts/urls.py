from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("agents/<str:agent_id>/", views.agent_home, name="agent-home"),
    path("agents/<str:agent_id>/audit-logs/", views.audit_logs, name="audit-logs"),
]
