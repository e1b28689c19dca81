"""What `manage.py prune` deletes of the accounts app's data: old audit events (leaving a
chained record of where the trail now starts) and finished invitations."""

from __future__ import annotations

from datetime import datetime, timedelta

from accounts import audit
from accounts.models import AuditAction, AuditEvent, Invitation, Organization


def prune(now: datetime, *, audit_days: int, invitation_days: int, dry_run: bool) -> dict[str, int]:
    events = AuditEvent.objects.filter(created_at__lt=now - timedelta(days=audit_days))
    invitations = Invitation.objects.finished_before(now - timedelta(days=invitation_days))
    counts = {"auditEvents": events.count(), "invitations": invitations.count()}
    if not dry_run:
        trails = set(events.values_list("organization_id", flat=True))
        events.delete()
        invitations.delete()
        for organization_id in trails:
            _record_trail_start(organization_id)
    return counts


def _record_trail_start(organization_id: int | None) -> None:
    """Pruning cuts the oldest links of the hash chain on purpose: say so in the chain, so
    that `manage.py audit verify` can tell it from a deletion (accounts/audit.py)."""
    first = AuditEvent.objects.trail(organization_id).first()
    if first is None:
        return
    marker = audit.PRUNED_MARKER.format(id=first.pk, previous_hash=first.previous_hash)
    AuditEvent.record(
        action=AuditAction.DELETE,
        resource="Audit log",
        description=f"Pruned old audit events; {marker}",
        organization=Organization.objects.filter(pk=organization_id).first(),
        actor="manage.py prune",
    )
