"""Contacts of an agent: the CRM records integrations write and admins look at.

Sized for a million contacts per agent: every list, search and lookup is served by an
index that starts with the agent, and a list's total comes from `ContactCount` (kept with
every write) instead of a COUNT over the agent's rows.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.core.validators import RegexValidator
from django.db import connection, models, transaction
from django.db.models import F, Func, Q
from django.db.models.functions import Lower
from django.utils.deconstruct import deconstructible

from accounts.models import (
    Agent,
    AgentAudited,
    AuditAction,
    AuditStatus,
    User,
    new_public_id,
)

if TYPE_CHECKING:
    from django.http import HttpRequest


@deconstructible(path="contacts.models.Bytewise")
class Bytewise(Func):
    """`expression COLLATE "C"` on PostgreSQL; SQLite already compares bytes.

    A B-tree index over a byte-ordered expression serves prefix searches as plain ranges
    (`>= 'jo' AND < 'jp'`) whatever the database's locale, and its order is the order of
    the results, so a search reads only the rows of its page.
    """

    template = '%(expressions)s COLLATE "C"'
    arity = 1

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return compiler.compile(self.get_source_expressions()[0])


class Gender(models.TextChoices):
    MALE = "Male", "Male"
    FEMALE = "Female", "Female"
    OTHER = "Other", "Other"


class Status(models.TextChoices):
    ACTIVE = "Active", "Active"
    INACTIVE = "Inactive", "Inactive"
    UNSUBSCRIBED = "Unsubscribed", "Unsubscribed"


class Stage(models.TextChoices):
    LEAD = "Lead", "Lead"
    PROSPECT = "Prospect", "Prospect"
    CUSTOMER = "Customer", "Customer"
    OLD_CUSTOMER = "Old Customer", "Old Customer"


class Source(models.TextChoices):
    API = "api", "API"
    CHAT = "chat", "Chat"
    FORM = "form", "Form"
    CSV = "csv", "CSV import"
    EXTRACTION = "extraction", "Document extraction"


def prefix_range(alias: str, prefix: str) -> Q:
    """`alias` starts with `prefix`, as a range a byte-ordered index can serve."""
    last = prefix[-1]
    if ord(last) >= 0x10FFFF:
        return Q(**{f"{alias}__startswith": prefix})
    return Q(**{f"{alias}__gte": prefix, f"{alias}__lt": prefix[:-1] + chr(ord(last) + 1)})


PHONE_LIKE = re.compile(r"^\+?[\d\s().-]+$")


@dataclass(frozen=True)
class Page:
    contacts: list[Contact]
    # (key value, id) of the last contact when more follow: where the next page starts.
    next_after: tuple[Any, int] | None


def _page(rows: list[tuple[int, Any]], *, more: bool) -> Page:
    """The contacts of these (id, key value) rows, in their order."""
    ids = [pk for pk, _ in rows]
    found = Contact.objects.select_related("owner").in_bulk(ids)
    contacts = [found[pk] for pk in ids if pk in found]
    last = rows[-1] if rows and more else None
    return Page(contacts, (last[1], last[0]) if last else None)


class ContactQuerySet(models.QuerySet["Contact"]):
    def for_agent(self, agent: Agent) -> ContactQuerySet:
        return self.filter(agent=agent)

    def visible(self) -> ContactQuerySet:
        return self.filter(archived=False)

    def with_email(self, email: str) -> ContactQuerySet:
        return self.alias(email_key=Bytewise("email")).filter(email_key=email.strip().lower())

    def with_mobile(self, mobile_number: str) -> ContactQuerySet:
        return self.alias(mobile_key=Bytewise("mobile_number")).filter(mobile_key=mobile_number)

    def similar_to(self, email: str, mobile_number: str) -> ContactQuerySet:
        """Contacts sharing the email or the mobile number: the duplicate warning."""
        if not email and not mobile_number:
            return self.none()
        matches = self.alias(email_key=Bytewise("email"), mobile_key=Bytewise("mobile_number"))
        condition = Q()
        if email:
            condition |= Q(email_key=email)
        if mobile_number:
            condition |= Q(mobile_key=mobile_number)
        return matches.filter(condition)

    def search(self, term: str) -> ContactQuerySet:
        """Prefix search, ordered by what matched: an email when the term has an `@`, a
        mobile number when it looks like one, otherwise the name (case-insensitive)."""
        from contacts.phones import search_prefixes

        term = " ".join(term.split())
        if not term:
            return self
        if "@" in term:
            found = self.alias(email_key=Bytewise("email"))
            return found.filter(prefix_range("email_key", term.lower())).order_by("email_key", "id")
        digits = re.sub(r"\D", "", term)
        if PHONE_LIKE.match(term) and len(digits) >= 3:
            found = self.alias(mobile_key=Bytewise("mobile_number"))
            condition = Q()
            for prefix in search_prefixes(term):
                condition |= prefix_range("mobile_key", prefix)
            return found.filter(condition).order_by("mobile_key", "id")
        found = self.alias(name_key=Bytewise("name_lower"))
        return found.filter(prefix_range("name_key", term.lower())).order_by("name_key", "id")

    def keyset(self) -> tuple[str, bool]:
        """What this queryset is ordered by besides the id, and whether newest/last first.

        Every order of the contacts list is (one key, id) in one direction; that pair is
        what keyset pagination resumes after."""
        explicit = self.query.order_by
        implicit = self.model._meta.ordering if self.query.default_ordering else []
        order = [str(field) for field in explicit or implicit]
        descending = order[0].startswith("-") if order else False
        names = [field.lstrip("-") for field in order]
        uniform = all(field.startswith("-") == descending for field in order)
        if len(names) != 2 or names[1] not in ("id", "pk") or not uniform:
            raise ValueError(f"Keyset pagination needs an order of (key, id), not {order}.")
        return names[0], descending

    def after(self, key_value: Any, pk: int) -> ContactQuerySet:
        """The rows that come after the row (`key_value`, `pk`) in this queryset's order.

        Written as `key >= v AND (key > v OR id > pk)` (mirrored when descending): the
        first half is a range the index starts from, the second skips the ties already
        served."""
        key, descending = self.keyset()
        past, from_ = ("lt", "lte") if descending else ("gt", "gte")
        return self.filter(
            Q(**{f"{key}__{from_}": key_value}),
            Q(**{f"{key}__{past}": key_value}) | Q(**{f"pk__{past}": pk}),
        )

    def page(self, number: int, size: int, total: int) -> list[Contact]:
        return self.page_at(number, size, total).contacts

    def page_at(self, number: int, size: int, total: int) -> Page:
        """The contacts on page `number` (1-based) of this ordered queryset of `total` rows.

        The first page is read like a cursor page. Deeper pages likewise read ids first,
        from the index alone; a page in the second half is read backwards from the end, so
        the database skips fewer rows.
        """
        offset = (number - 1) * size
        if offset >= total:
            return Page([], None)
        if offset == 0:
            return self.page_from_start(size)
        count = min(size, total - offset)
        keys = self._ids_and_keys()
        if offset > total // 2:
            start = total - offset - count
            rows = list(keys.reverse()[start : start + count])[::-1]
        else:
            rows = list(keys[offset : offset + count])
        return _page(rows, more=offset + count < total)

    def page_from_start(self, size: int) -> Page:
        return self._page_of(self, size)

    def page_after(self, key_value: Any, pk: int, size: int) -> Page:
        """Up to `size` contacts after (`key_value`, `pk`): a deep page costs what the
        first does, because the index is entered at that row instead of counted to it."""
        return self._page_of(self.after(key_value, pk), size)

    def _page_of(self, queryset: ContactQuerySet, size: int) -> Page:
        """The first `size` rows of `queryset`, and whether more follow.

        Ids first, then the rows: the first query is an index-only scan on PostgreSQL,
        read in the index's order and stopped after `size + 1`, skipping archived contacts
        by the index's `archived` column. Reading the rows at once, PostgreSQL visited
        every archived match's row before skipping it, or, judging a name prefix to match
        one row, fetched and sorted every match: on 1M contacts a 3-letter search's page
        took 6-26 ms where this takes 2-5 (one more query: about 1-2 ms on a first page)."""
        rows = list(queryset._ids_and_keys()[: size + 1])
        return _page(rows[:size], more=len(rows) > size)

    def _ids_and_keys(self) -> models.QuerySet[Contact, tuple[int, Any]]:
        key, _ = self.keyset()
        return self.values_list("pk", F(key))

    def delete(self) -> tuple[int, dict[str, int]]:
        with transaction.atomic():
            gone = list(
                self.order_by()
                .values("agent_id", "archived")
                .annotate(number=models.Count("id"))
                .values_list("agent_id", "archived", "number")
            )
            deleted = super().delete()
            for agent_id, archived, number in gone:
                ContactCount.adjust(agent_id, archived=archived, by=-number)
        return deleted

    def bulk_create(self, objs: Iterable[Contact], *args: Any, **kwargs: Any) -> list[Contact]:
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            raise ValueError("Contacts are counted as they are created; conflicts must fail.")
        with transaction.atomic():
            created = super().bulk_create(objs, *args, **kwargs)
            # The count last, once: a transaction holds the agent's counter row only briefly.
            added = Counter((c.agent_id, c.archived) for c in created)
            for (agent_id, archived), number in added.items():
                ContactCount.adjust(agent_id, archived=archived, by=number)
        return created


class Contact(AgentAudited, models.Model):
    """A person in an agent's CRM. `version` grows with every change; it is the ETag."""

    # Every index below starts with the agent, so the foreign key needs none of its own.
    agent = models.ForeignKey(
        Agent, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    public_id = models.CharField(max_length=24, default=new_public_id, editable=False)
    external_reference_id = models.CharField(
        "External reference id",
        max_length=100,
        blank=True,
        help_text="Your system's id for this person; unique within the agent.",
    )
    name = models.CharField(max_length=200, blank=True)
    # lower(name), stored by the database, for prefix search. An index over the expression
    # itself cannot answer a COUNT alone on PostgreSQL (it reads `name` from the table or
    # must carry it), so a search's total read 35,000 wide index rows; over this column a
    # narrow index of the visible contacts counts them (contact_agent_name_visible).
    name_lower = models.GeneratedField(
        expression=Lower("name"),
        output_field=models.CharField(max_length=200),
        db_persist=True,
    )
    email = models.EmailField("Primary email", max_length=254, blank=True)
    mobile_number = models.CharField(max_length=20, blank=True)
    gender = models.CharField(max_length=10, choices=Gender.choices, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    stage = models.CharField(max_length=20, choices=Stage.choices, blank=True)
    owner = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_contacts"
    )
    custom_fields = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.API)
    archived = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["public_id"], name="contact_unique_public_id"),
            models.UniqueConstraint(
                fields=["agent", "external_reference_id"],
                condition=~Q(external_reference_id=""),
                name="contact_unique_external_reference",
            ),
            models.CheckConstraint(
                condition=~Q(email="") | ~Q(mobile_number=""), name="contact_email_or_mobile"
            ),
        ]
        # Each starts with the agent; `archived` (and `name`) are carried along so counts
        # and id pages are index-only scans on PostgreSQL.
        indexes = [
            models.Index(
                fields=["agent", "created_at", "id"],
                include=["archived"],
                name="contact_agent_created",
            ),
            models.Index(
                fields=["agent", "updated_at", "id"],
                include=["archived"],
                name="contact_agent_updated",
            ),
            models.Index(
                F("agent"),
                Bytewise("name_lower"),
                F("id"),
                include=["archived"],
                name="contact_agent_name_lower",
            ),
            # Only for counting a search's matches: no id, so equal names share one entry
            # (B-tree deduplication), and no archived contacts to skip.
            models.Index(
                F("agent"),
                Bytewise("name_lower"),
                condition=Q(archived=False),
                name="contact_agent_name_visible",
            ),
            models.Index(
                F("agent"),
                Bytewise("email"),
                F("id"),
                include=["archived"],
                name="contact_agent_email",
            ),
            models.Index(
                F("agent"),
                Bytewise("mobile_number"),
                F("id"),
                include=["archived"],
                name="contact_agent_mobile",
            ),
        ]

    _saved_archived: bool | None = None

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        adding = self._state.adding
        with transaction.atomic():
            super().save(*args, **kwargs)
            if adding:
                ContactCount.adjust(self.agent_id, archived=self.archived, by=1)
            elif self._saved_archived is not None and self._saved_archived != self.archived:
                ContactCount.adjust(self.agent_id, archived=self._saved_archived, by=-1)
                ContactCount.adjust(self.agent_id, archived=self.archived, by=1)
        self._saved_archived = self.archived

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic():
            names = list(self.files.values_list("file", flat=True))
            deleted = super().delete(*args, **kwargs)
            was_archived = self.archived if self._saved_archived is None else self._saved_archived
            ContactCount.adjust(self.agent_id, archived=was_archived, by=-1)
            for name in names:
                delete_stored_file_on_commit(name)
        return deleted

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Any, values: Sequence[Any], **kwargs: Any
    ) -> Contact:
        instance = super().from_db(db, field_names, values, **kwargs)
        instance._saved_archived = instance.__dict__.get("archived")
        return instance

    @property
    def display_name(self) -> str:
        return self.name or self.email or self.mobile_number or self.public_id

    @property
    def etag(self) -> str:
        return f'"{self.public_id}-{self.version}"'

    def matches_etag(self, header: str) -> bool:
        """RFC 9110 If-Match: `*` or a list of entity tags, compared strongly."""
        tags = [tag.strip() for tag in header.split(",") if tag.strip()]
        return "*" in tags or self.etag in tags

    # --- writes: the pages, the API, the CSV import and extraction all come through here ---

    def create(
        self,
        *,
        request: HttpRequest | None,
        actor: str | None = None,
        description: str = "Created contact",
    ) -> None:
        """Save a new contact and audit it."""
        with transaction.atomic():
            self.save()
            self.record(AuditAction.CREATE, description, request=request, actor=actor)

    def update(
        self, values: dict[str, Any], *, request: HttpRequest | None, actor: str | None = None
    ) -> None:
        """Replace the editable fields with `values` (where the contact came from never
        changes), as a new version, audited."""
        for attribute, value in values.items():
            if attribute != "source":
                setattr(self, attribute, value)
        self._save_version("Updated contact", request=request, actor=actor)

    def set_archived(
        self, archived: bool, *, request: HttpRequest | None, actor: str | None = None
    ) -> bool:
        """Archive or restore, as a new version, audited; False when it already was."""
        if self.archived == archived:
            return False
        self.archived = archived
        verb = "Archived contact" if archived else "Restored contact"
        self._save_version(verb, request=request, actor=actor)
        return True

    def _save_version(
        self, description: str, *, request: HttpRequest | None, actor: str | None
    ) -> None:
        # The version is the ETag's: every change bumps it, so If-Match sees the change.
        with transaction.atomic():
            self.version += 1
            self.save()
            self.record(AuditAction.UPDATE, description, request=request, actor=actor)

    def to_dict(self, fields: set[str] | None = None) -> dict[str, Any]:
        """The API's view of a contact. Values of custom fields the agent has since removed
        (not in `fields`, by default the agent's current ones) are left out, so what a
        client reads it can send back."""
        if fields is None:
            fields = CustomField.objects.for_agent(self.agent).key_names()
        return {
            "id": self.public_id,
            "externalReferenceId": self.external_reference_id or None,
            "name": self.name,
            "email": self.email or None,
            "mobileNumber": self.mobile_number or None,
            "gender": self.gender or None,
            "status": self.status,
            "stage": self.stage or None,
            "ownerEmail": self.owner.email if self.owner_id and self.owner else None,
            "customFields": {k: v for k, v in self.custom_fields.items() if k in fields},
            "source": self.source,
            "archived": self.archived,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }

    @property
    def audit_resource(self) -> str:
        return f"Contact {self.public_id}"

    def record(
        self,
        action: AuditAction,
        description: str,
        *,
        request: HttpRequest | None = None,
        actor: str | None = None,
        status: AuditStatus = AuditStatus.SUCCESS,
    ) -> None:
        """As every agent record's, with the contact's name after the description."""
        described = f'{description} "{self.display_name}"'[:500]
        super().record(action, described, request=request, actor=actor, status=status)


class ContactCount(models.Model):
    """How many contacts an agent has (archived apart), kept in the same transaction as
    every insert, archive and delete, so a list's total is a one-row read."""

    agent = models.OneToOneField(
        Agent, on_delete=models.CASCADE, primary_key=True, related_name="contact_count"
    )
    visible = models.BigIntegerField(default=0)
    archived = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.agent_id}: {self.visible} + {self.archived} archived"

    @classmethod
    def adjust(cls, agent_id: int, *, archived: bool, by: int) -> None:
        """Add `by` to the agent's count; one upsert, atomic on SQLite and PostgreSQL.

        Rows written around the ORM (COPY, raw SQL) are not seen: call `recount` after."""
        column = "archived" if archived else "visible"
        table = cls._meta.db_table
        visible_delta, archived_delta = (0, by) if archived else (by, 0)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (agent_id, visible, archived) VALUES (%s, %s, %s) "
                f"ON CONFLICT (agent_id) DO UPDATE SET {column} = {table}.{column} + %s",
                [agent_id, visible_delta, archived_delta, by],
            )

    @classmethod
    def recount(cls, agent_id: int) -> ContactCount:
        """Count from scratch (after loading rows by hand, or to check the kept count)."""
        counts = Contact.objects.filter(agent_id=agent_id).aggregate(
            visible=models.Count("id", filter=Q(archived=False)),
            archived=models.Count("id", filter=Q(archived=True)),
        )
        visible, archived = counts["visible"], counts["archived"]
        table = cls._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (agent_id, visible, archived) VALUES (%s, %s, %s) "
                f"ON CONFLICT (agent_id) DO UPDATE SET visible = %s, archived = %s",
                [agent_id, visible, archived, visible, archived],
            )
        return cls(agent_id=agent_id, visible=visible, archived=archived)

    @classmethod
    def total(cls, agent: Agent, *, include_archived: bool = False) -> int:
        counts = cls.of(agent)
        return counts.visible + (counts.archived if include_archived else 0)

    @classmethod
    def of(cls, agent: Agent) -> ContactCount:
        found = cls.objects.filter(agent=agent).first()
        return found if found is not None else cls.recount(agent.pk)


def delete_stored_file_on_commit(name: str) -> None:
    if name:
        transaction.on_commit(lambda: default_storage.delete(name))


# --- custom fields ----------------------------------------------------------------------


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes / No"
    CHOICE = "choice", "Choice"


# The API's own field names: a custom field may not reuse them.
DEFAULT_FIELD_KEYS = {
    "id",
    "externalreferenceid",
    "name",
    "email",
    "mobilenumber",
    "gender",
    "status",
    "stage",
    "owneremail",
    "owner",
    "customfields",
    "source",
    "archived",
    "createdat",
    "updatedat",
}
TRUE_WORDS = {"true", "yes", "y", "1"}
FALSE_WORDS = {"false", "no", "n", "0"}
TEXT_MAX_LENGTH = 1000

validate_field_key = RegexValidator(
    r"^[a-z][a-z0-9_]{0,49}$",
    "Use lowercase letters, digits and underscores, starting with a letter (at most 50).",
)


class CustomFieldQuerySet(models.QuerySet["CustomField"]):
    def for_agent(self, agent: Agent) -> CustomFieldQuerySet:
        return self.filter(agent=agent)

    def key_names(self) -> set[str]:
        return set(self.values_list("key", flat=True))


class CustomField(models.Model):
    """An extra contact field an agent defines; values live in `Contact.custom_fields`."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="custom_fields")
    key = models.CharField(max_length=50, validators=[validate_field_key])
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=10, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomFieldQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "key"], name="custom_field_unique_key")
        ]

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        if self.key and self.key.lower().replace("_", "") in DEFAULT_FIELD_KEYS:
            raise ValidationError({"key": "This key is a default contact field."})
        if self.type == FieldType.CHOICE:
            options = [str(c).strip() for c in self.choices or [] if str(c).strip()]
            if not options:
                raise ValidationError({"choices": "A choice field needs at least one choice."})
            self.choices = list(dict.fromkeys(options))
        else:
            self.choices = []

    def coerce(self, value: Any, *, from_text: bool = False) -> Any:
        """The stored form of `value`, or ValueError saying why it does not fit.

        JSON clients must send the JSON type (a number, true/false); text sources (CSV
        cells, form inputs) are parsed when `from_text`.
        """
        if self.type == FieldType.TEXT:
            if not isinstance(value, str):
                raise ValueError("Must be text.")
            if len(value) > TEXT_MAX_LENGTH:
                raise ValueError(f"Must be at most {TEXT_MAX_LENGTH} characters.")
            return value
        if self.type == FieldType.NUMBER:
            return _number(value, from_text=from_text)
        if self.type == FieldType.BOOLEAN:
            if isinstance(value, bool):
                return value
            if from_text and isinstance(value, str) and value.strip().lower() in TRUE_WORDS:
                return True
            if from_text and isinstance(value, str) and value.strip().lower() in FALSE_WORDS:
                return False
            raise ValueError("Must be true or false.")
        if self.type == FieldType.DATE:
            if not isinstance(value, str):
                raise ValueError("Must be a date as YYYY-MM-DD.")
            try:
                return dt.date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                raise ValueError("Must be a date as YYYY-MM-DD.") from None
        if not isinstance(value, str):
            raise ValueError(f"Must be one of: {', '.join(self.choices)}.")
        for choice in self.choices:
            if choice.lower() == value.strip().lower():
                return choice
        raise ValueError(f"Must be one of: {', '.join(self.choices)}.")


def _number(value: Any, *, from_text: bool) -> int | float:
    if isinstance(value, str) and from_text:
        try:
            value = float(value.strip().replace(",", "")) if value.strip() else None
        except ValueError:
            raise ValueError("Must be a number.") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("Must be a number.")
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


# --- files ------------------------------------------------------------------------------


def _file_path(instance: ContactFile, filename: str) -> str:
    contact = instance.contact
    return f"contacts/{contact.agent.public_id}/{contact.public_id}/{filename}"


class ContactFile(models.Model):
    """A file attached to a contact, stored through Django's storage API. The stored name
    is ours (never the client's); the client's name is kept for downloads."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="files")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    file = models.FileField(upload_to=_file_path, max_length=255)
    original_name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    sha256 = models.CharField(max_length=64)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.original_name

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        with transaction.atomic():
            name = self.file.name
            deleted = super().delete(*args, **kwargs)
            delete_stored_file_on_commit(name)
        return deleted
