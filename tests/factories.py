from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from accounts.models import Agent, Membership, Organization, Role, User
from apikeys.models import ALL_PERMISSIONS, ApiKey
from contacts.models import Contact

PASSWORD = "correct horse battery staple"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class OrganizationFactory(DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")


class MembershipFactory(DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.USER


class AgentFactory(DjangoModelFactory[Agent]):
    class Meta:
        model = Agent

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Agent {n}")


def make_key(agent: Agent, *permissions: str, **fields: object) -> tuple[ApiKey, str]:
    """An API key of `agent` with the named permissions ("contacts_read", …); returns the
    key and its full string, e.g. `make_key(agent_a, "contacts_read", expires_at=...)`."""
    flags = {name: True for name in permissions}
    return ApiKey.issue(agent, name=fields.pop("name", "Integration"), **flags, **fields)


def all_permissions() -> list[str]:
    return [p.field for p in ALL_PERMISSIONS]


class ContactFactory(DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    agent = factory.SubFactory(AgentFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")


def totp_code(device: object, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows for `device` now (or `steps_ahead` steps of 30 s
    later: a code is accepted once, and the device allows one step of clock drift)."""
    from django_otp.oath import TOTP

    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)  # type: ignore[attr-defined]
    return f"{totp.token():0{device.digits}d}"  # type: ignore[attr-defined]
