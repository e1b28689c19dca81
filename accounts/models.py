"""Workspaces: users, organizations, memberships, agents, and the audit trail."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from a2v2.http import client_ip

if TYPE_CHECKING:
    from django.http import HttpRequest


def new_public_id() -> str:
    """A 24-character hex id in the style of a MongoDB ObjectId, as the A2V2 API uses."""
    return secrets.token_hex(12)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with their email address."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.get_full_name() or self.email


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    USER = "user", "User"


class OrganizationQuerySet(models.QuerySet["Organization"]):
    def for_user(self, user: User) -> OrganizationQuerySet:
        return self.filter(memberships__user=user)


class Organization(models.Model):
    name = models.CharField(max_length=100)
    # Owners and Admins without a second factor are sent to set one up before anything else.
    require_two_factor = models.BooleanField(
        "Require two-factor for Owners and Admins", default=False, db_default=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganizationQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    @classmethod
    @transaction.atomic
    def create_with_owner(cls, name: str, owner: User) -> Organization:
        organization = cls.objects.create(name=name)
        Membership.objects.create(organization=organization, user=owner, role=Role.OWNER)
        return organization

    def add_member(self, user: User, role: Role) -> Membership:
        """Add or change a member. The owner's role is changed only by transferring ownership."""
        if role == Role.OWNER:
            raise ValueError("An organization has exactly one owner; transfer ownership instead.")
        membership, created = Membership.objects.get_or_create(
            organization=self, user=user, defaults={"role": role}
        )
        if not created and membership.role != role:
            if membership.role == Role.OWNER:
                raise ValueError("The owner's role cannot be changed.")
            membership.role = role
            membership.save(update_fields=["role"])
        return membership

    @transaction.atomic
    def transfer_ownership(self, to: Membership) -> Membership:
        """`to` becomes the Owner and the Owner becomes an Admin (never two owners, never none).
        Returns the former owner's membership."""
        owner = Membership.objects.select_for_update().get(organization=self, role=Role.OWNER)
        if to.organization_id != self.pk or to.pk == owner.pk:
            raise ValueError("Ownership can only go to another member of this organization.")
        owner.role = Role.ADMIN
        owner.save(update_fields=["role"])  # first: the one-owner constraint is checked per row
        to.role = Role.OWNER
        to.save(update_fields=["role"])
        return owner


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership"),
            models.UniqueConstraint(
                fields=["organization"], condition=Q(role="owner"), name="one_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) in {self.organization}"

    @property
    def manages_keys(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.role == Role.OWNER

    def can_manage(self, other: Membership) -> bool:
        """Owners and Admins change other members' roles and remove them. Nobody changes the
        Owner (ownership is transferred instead), nor their own role."""
        return (
            self.manages_keys
            and other.organization_id == self.organization_id
            and other.role != Role.OWNER
            and other.pk != self.pk
        )


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def open(self) -> InvitationQuerySet:
        """Not yet accepted (expired ones included, so they can be resent or revoked)."""
        return self.filter(accepted_at__isnull=True)

    def finished_before(self, cutoff: datetime) -> InvitationQuerySet:
        """Accepted, or expired unaccepted, before `cutoff`: links that can no longer be used
        (an expired one can be resent, which issues a new invitation)."""
        return self.filter(
            Q(accepted_at__lt=cutoff) | Q(accepted_at__isnull=True, expires_at__lt=cutoff)
        )


class Invitation(models.Model):
    """An e-mailed link to join an organization with a role: single use, and it expires.

    Only a hash of the link's token is stored, so the database alone cannot be used to join.
    """

    INVITABLE_ROLES: ClassVar[tuple[Role, ...]] = (Role.ADMIN, Role.USER)

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} invited to {self.organization} as {self.get_role_display()}"

    @classmethod
    @transaction.atomic
    def issue(
        cls, organization: Organization, email: str, role: Role, invited_by: User
    ) -> tuple[Invitation, str]:
        """A new invitation and its token (for the link; never stored). An earlier open
        invitation of the same address to the same organization stops working."""
        if role not in cls.INVITABLE_ROLES:
            raise ValueError("Invite as Admin or User; ownership is transferred, not invited.")
        cls.objects.open().filter(organization=organization, email__iexact=email).delete()
        token = secrets.token_urlsafe(32)
        invitation = cls.objects.create(
            organization=organization,
            email=email.lower(),
            role=role,
            token_hash=hash_token(token),
            invited_by=invited_by,
            expires_at=timezone.now() + timedelta(days=settings.INVITATION_DAYS),
        )
        return invitation, token

    @classmethod
    def find(cls, token: str) -> Invitation | None:
        return (
            cls.objects.select_related("organization", "invited_by")
            .filter(token_hash=hash_token(token))
            .first()
        )

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.accepted_at is None and not self.is_expired

    @transaction.atomic
    def accept(self, user: User) -> Membership:
        """Joins `user`; raises ValueError when the link was used or expired meanwhile."""
        now = timezone.now()
        claimed = Invitation.objects.filter(
            pk=self.pk, accepted_at__isnull=True, expires_at__gt=now
        ).update(accepted_at=now)
        if not claimed:
            raise ValueError("This invitation has expired or was already used.")
        self.accepted_at = now
        existing = Membership.objects.filter(organization=self.organization, user=user).first()
        if existing is not None:
            return existing  # already a member: the link is spent, the role is left alone
        return self.organization.add_member(user, Role(self.role))


class AgentQuerySet(models.QuerySet["Agent"]):
    def for_user(self, user: User) -> AgentQuerySet:
        return self.filter(organization__memberships__user=user)


class Agent(models.Model):
    """An AI agent of an organization; API keys, contacts and documents belong to one."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class AuditAction(models.TextChoices):
    CREATE = "create", "Create"
    READ = "read", "Read"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    LOGIN = "login", "Login"
    LOGOUT = "logout", "Logout"


class AuditStatus(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def visible_to(self, membership: Membership) -> AuditEventQuerySet:
        """Owners and Admins see the organization's activity; Users see their own."""
        events = self.filter(organization=membership.organization)
        if not membership.manages_keys:
            events = events.filter(user=membership.user)
        return events

    def filtered(self, action: str = "") -> AuditEventQuerySet:
        """The Audit Logs page's filter, shared by its exports and `manage.py audit export`."""
        return self.filter(action=action) if action else self

    def trail(self, organization_id: int | None) -> AuditEventQuerySet:
        """One organization's events in chain order, oldest first (accounts/audit.py)."""
        return self.filter(organization_id=organization_id).order_by("id")


class AuditEvent(models.Model):
    """Who did what to which resource, with what outcome, and when.

    The actor is a signed-in user or an API key; `actor` keeps a readable name so the
    trail stays meaningful after the user or key is deleted.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, related_name="audit_events"
    )
    agent = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, blank=True)
    user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True)
    actor = models.CharField(max_length=200)
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    resource = models.CharField(max_length=200)
    description = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=AuditStatus.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The hash chain (accounts/audit.py): the previous event's hash in this organization's
    # trail, and this event's own. "" for both: written by a release before the chain.
    previous_hash = models.CharField(
        max_length=64, blank=True, editable=False, default="", db_default=""
    )
    hash = models.CharField(max_length=64, blank=True, editable=False, default="", db_default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organization", "-created_at"]),
            # The chain's order: appending finds the last event without scanning the trail.
            models.Index(fields=["organization", "id"], name="audit_trail_order"),
        ]

    def __str__(self) -> str:
        return f"{self.actor}: {self.description}"

    @classmethod
    def record(
        cls,
        *,
        action: AuditAction,
        resource: str,
        description: str,
        organization: Organization | None,
        request: HttpRequest | None = None,
        user: User | None = None,
        actor: str | None = None,
        agent: Agent | None = None,
        status: AuditStatus = AuditStatus.SUCCESS,
        address: str | None = None,
    ) -> AuditEvent:
        # An API key acting (actor given) is never attributed to a browser session it carries.
        if user is None and actor is None and request is not None and request.user.is_authenticated:
            user = request.user  # type: ignore[assignment]
        if request is not None:  # else the client address given (by a task)
            found = client_ip(request)
            address = str(found) if found else None
        event = cls(
            organization=organization,
            agent=agent,
            user=user,
            actor=actor or (user.email if user else "system"),
            action=action,
            resource=resource,
            description=description[:500],
            status=status,
            ip_address=address or None,
        )
        event.append()
        return event

    def append(self) -> None:
        """Insert at the end of its organization's hash chain, under the trail's lock."""
        from accounts import audit

        with transaction.atomic():
            audit.lock_trail(self.organization_id)
            self.previous_hash = audit.last_hash(self.organization_id)
            # What the database will give back: a GenericIPAddressField normalises.
            self.ip_address = self._meta.get_field("ip_address").to_python(self.ip_address)
            self.save(force_insert=True)  # sets created_at, which the hash covers
            self.hash = audit.hash_of(self)
            audit.store_hash(self.pk, self.hash)


class AgentAudited:
    """For an agent's records (keys, contacts, documents): `record` writes what happened to
    one of them into its organization's audit trail, naming it as `audit_resource` does."""

    agent: Agent

    @property
    def audit_resource(self) -> str:
        raise NotImplementedError

    def record(
        self,
        action: AuditAction,
        description: str,
        *,
        request: HttpRequest | None = None,
        actor: str | None = None,
        status: AuditStatus = AuditStatus.SUCCESS,
    ) -> None:
        AuditEvent.record(
            action=action,
            resource=self.audit_resource,
            description=description,
            organization=self.agent.organization,
            agent=self.agent,
            request=request,
            actor=actor,
            status=status,
        )
