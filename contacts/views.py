from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from a2v2.http import AuthenticatedHttpRequest
from accounts.access import agent_access


@login_required
def contact_list(request: AuthenticatedHttpRequest, agent_id: str) -> HttpResponse:
    access = agent_access(request, agent_id)
    return render(request, "contacts/contact_list.html", {"access": access, "section": "contacts"})
