"""Members & roles and Agents: the access matrix, invitations by e-mail (single use,
expiring), role rules (exactly one Owner, ownership transferred explicitly), removal, and
agents created and renamed from the UI."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import Agent, AuditEvent, Invitation, Membership, Role, User
from tests.conftest import client_for
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
STRONG = "a long and unusual passphrase"


def page(name: str, agent: Agent, *args: object) -> str:
    return reverse(name, args=[agent.public_id, *args])


def invite(client: Client, agent: Agent, email: str, role: str = "user"):
    return client.post(page("accounts:member-invite", agent), {"email": email, "role": role})


def link_in(message: mail.EmailMessage) -> str:
    return re.search(r"https?://\S+/invitations/\S+/", message.body).group(0)


# ---- the access matrix ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["accounts:members", "accounts:agents", "accounts:member-invite", "accounts:agent-new"]
)
def test_owners_and_admins_see_the_workspace_pages(
    name: str, owner: User, admin: User, agent_a: Agent
) -> None:
    for user in (owner, admin):
        assert client_for(user).get(page(name, agent_a)).status_code == 200


@pytest.mark.parametrize(
    "name", ["accounts:members", "accounts:agents", "accounts:member-invite", "accounts:agent-new"]
)
def test_a_user_gets_403_and_a_stranger_404(
    name: str, member: User, stranger: User, agent_a: Agent
) -> None:
    forbidden = client_for(member).get(page(name, agent_a))
    assert forbidden.status_code == 403
    assert "You don't have access to this page" in forbidden.content.decode()
    assert client_for(stranger).get(page(name, agent_a)).status_code == 404
    assert Client().get(page(name, agent_a)).status_code == 302  # to the sign-in page


def test_member_actions_walk_the_matrix(
    owner: User, admin: User, member: User, stranger: User, agent_a: Agent
) -> None:
    target = member.memberships.get()
    for name in ("accounts:member-role", "accounts:member-remove", "accounts:member-transfer"):
        url = page(name, agent_a, target.pk)
        assert client_for(member).post(url).status_code == 403, name
        assert client_for(stranger).post(url).status_code == 404, name
    # Admins manage Users and Admins but not the Owner; only the Owner transfers ownership.
    owner_membership = owner.memberships.get()
    assert (
        client_for(admin)
        .get(page("accounts:member-role", agent_a, owner_membership.pk))
        .status_code
        == 403
    )
    assert (
        client_for(admin).get(page("accounts:member-transfer", agent_a, target.pk)).status_code
        == 403
    )
    # A member of another organization is not found from here.
    other = stranger.memberships.get()
    assert client_for(owner).get(page("accounts:member-role", agent_a, other.pk)).status_code == 404


def test_users_do_not_see_the_settings_links(owner: User, member: User, agent_a: Agent) -> None:
    contacts = page("contacts:contacts", agent_a)
    assert "Members &amp; roles" in client_for(owner).get(contacts).content.decode()
    assert "Members &amp; roles" not in client_for(member).get(contacts).content.decode()


def test_the_members_page_lists_roles_and_two_factor(
    owner: User, admin: User, member: User, agent_a: Agent
) -> None:
    html = client_for(owner).get(page("accounts:members", agent_a)).content.decode()
    assert "Control who on your team can manage the workspace." in html
    for email in (owner.email, admin.email, member.email):
        assert email in html
    assert html.index(owner.email) < html.index(admin.email) < html.index(member.email)
    assert "Require two-factor for Owners and Admins" in html


# ---- invitations ------------------------------------------------------------------------


def test_an_invitation_is_emailed_and_accepted_by_a_new_member(owner: User, agent_a: Agent) -> None:
    response = invite(client_for(owner), agent_a, "New.Person@Acme.test", "admin")
    assert response.status_code == 302
    message = mail.outbox[-1]
    assert message.to == ["new.person@acme.test"]
    assert "invited you to join Acme on A2V2 as Admin" in message.body
    link = link_in(message)
    assert Invitation.objects.get().token_hash not in link  # only the hash is stored

    newcomer = Client()
    form = newcomer.get(link)
    assert "Join Acme" in form.content.decode() and "new.person@acme.test" in form.content.decode()
    weak = newcomer.post(link, {"name": "New Person", "password1": "123", "password2": "123"})
    assert weak.status_code == 422 and "This password is too short" in weak.content.decode()
    joined = newcomer.post(link, {"name": "New Person", "password1": STRONG, "password2": STRONG})
    assert joined.status_code == 302

    user = User.objects.get(email="new.person@acme.test")
    assert user.get_full_name() == "New Person"
    assert Membership.objects.get(user=user).role == Role.ADMIN
    assert newcomer.get(page("apikeys:api-permissions", agent_a)).status_code == 200
    assert AuditEvent.objects.filter(description__startswith="Joined as Admin").exists()
    # Single use.
    assert Client().get(link).status_code == 410


def test_an_invitation_expires(owner: User, agent_a: Agent, settings) -> None:
    settings.INVITATION_DAYS = 7
    invite(client_for(owner), agent_a, "late@acme.test")
    link = link_in(mail.outbox[-1])
    with freeze_time(timezone.now() + timedelta(days=8)):
        response = Client().get(link)
    assert response.status_code == 410
    assert "expired or was already used" in response.content.decode()


def test_prune_deletes_invitations_accepted_or_expired_past_the_retention(
    owner: User, agent_a: Agent
) -> None:
    client = client_for(owner)
    for email in ("joined@acme.test", "joined-lately@acme.test", "lapsed@acme.test"):
        invite(client, agent_a, email)
    links = [link_in(message) for message in mail.outbox]
    Client().post(links[0], {"password1": STRONG, "password2": STRONG})
    with freeze_time(timezone.now() + timedelta(days=6)):
        Client().post(links[1], {"password1": STRONG, "password2": STRONG})
    assert Invitation.objects.filter(accepted_at__isnull=False).count() == 2
    with freeze_time(timezone.now() + timedelta(days=32)):  # the three links expired 25 days ago
        invite(client_for(owner), agent_a, "pending@acme.test")

        call_command("prune", "--dry-run", "--json", stdout=(out := StringIO()))
        assert json.loads(out.getvalue())["invitations"] == 1
        assert Invitation.objects.count() == 4
        call_command("prune", "--invitation-days", "20", stdout=(out := StringIO()))

    assert "Deleted 0 audit event(s), 0 expired key(s), 3 finished invitation(s)" in out.getvalue()
    assert list(Invitation.objects.values_list("email", flat=True)) == ["pending@acme.test"]
    assert Membership.objects.filter(user__email__startswith="joined").count() == 2


def test_prune_refuses_a_negative_invitation_retention(db: None) -> None:
    with pytest.raises(CommandError, match="--invitation-days must be at least 0"):
        call_command("prune", "--invitation-days", "-1", stdout=StringIO())


def test_an_unknown_invitation_link_is_404(db: None) -> None:
    assert Client().get(reverse("accounts:invitation", args=["made-up-token"])).status_code == 404


def test_an_existing_account_signs_in_to_accept(
    owner: User, stranger: User, agent_a: Agent
) -> None:
    invite(client_for(owner), agent_a, stranger.email)
    link = link_in(mail.outbox[-1])
    assert "Sign in to accept" in Client().get(link).content.decode()

    client = client_for(stranger)
    assert client.post(link).status_code == 302
    assert Membership.objects.get(user=stranger, organization=agent_a.organization).role == "user"


def test_someone_else_signed_in_cannot_use_the_link(
    owner: User, admin: User, agent_a: Agent
) -> None:
    invite(client_for(owner), agent_a, "friend@example.com")
    link = link_in(mail.outbox[-1])
    response = client_for(admin).post(link)
    assert "This invitation is for friend@example.com" in response.content.decode()
    assert not User.objects.filter(email="friend@example.com").exists()


def test_inviting_a_member_again_is_refused_inline(
    owner: User, admin: User, agent_a: Agent
) -> None:
    response = client_for(owner).post(
        page("accounts:member-invite", agent_a),
        {"email": admin.email, "role": "user"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert f"{admin.email} is already a member of Acme." in response.content.decode()
    assert f'value="{admin.email}"' in response.content.decode()


def test_nobody_is_invited_as_owner(owner: User, agent_a: Agent) -> None:
    response = invite(client_for(owner), agent_a, "boss@acme.test", "owner")
    assert response.status_code == 422 and not mail.outbox


def test_revoking_and_resending_an_invitation(owner: User, agent_a: Agent) -> None:
    client = client_for(owner)
    invite(client, agent_a, "maybe@acme.test")
    first_link = link_in(mail.outbox[-1])
    invitation = Invitation.objects.get()
    client.post(page("accounts:invitation-resend", agent_a, invitation.pk))
    second_link = link_in(mail.outbox[-1])
    assert Client().get(first_link).status_code == 404
    assert Client().get(second_link).status_code == 200

    client.post(page("accounts:invitation-revoke", agent_a, Invitation.objects.get().pk))
    assert Client().get(second_link).status_code == 404


# ---- roles ------------------------------------------------------------------------------


def test_an_admin_changes_a_users_role(admin: User, member: User, agent_a: Agent) -> None:
    target = member.memberships.get()
    response = client_for(admin).post(
        page("accounts:member-role", agent_a, target.pk), {"role": "admin"}, headers=HTMX
    )
    assert response.status_code == 200 and response["HX-Retarget"] == "#members-region"
    target.refresh_from_db()
    assert target.role == Role.ADMIN
    assert AuditEvent.objects.filter(
        description=f"Changed {member.email}'s role from User to Admin"
    ).exists()


def test_nobody_changes_their_own_role_or_makes_a_second_owner(
    owner: User, admin: User, agent_a: Agent
) -> None:
    mine = admin.memberships.get()
    assert (
        client_for(admin)
        .post(page("accounts:member-role", agent_a, mine.pk), {"role": "user"})
        .status_code
        == 403
    )
    response = client_for(owner).post(
        page("accounts:member-role", agent_a, mine.pk), {"role": "owner"}
    )
    assert response.status_code == 422
    assert Membership.objects.filter(role=Role.OWNER).count() == 1


def test_ownership_is_transferred_explicitly(owner: User, admin: User, agent_a: Agent) -> None:
    target = admin.memberships.get()
    client = client_for(owner)
    unconfirmed = client.post(page("accounts:member-transfer", agent_a, target.pk))
    assert unconfirmed.status_code == 422

    client.post(page("accounts:member-transfer", agent_a, target.pk), {"confirm": "on"})
    roles = dict(Membership.objects.values_list("user__email", "role"))
    assert roles == {admin.email: Role.OWNER, owner.email: Role.ADMIN}
    assert AuditEvent.objects.filter(description__startswith="Transferred ownership").exists()


def test_removing_a_member_ends_their_access_at_once(
    owner: User, member: User, agent_a: Agent
) -> None:
    member_client = client_for(member)
    assert member_client.get(page("contacts:contacts", agent_a)).status_code == 200

    client_for(owner).post(page("accounts:member-remove", agent_a, member.memberships.get().pk))
    assert member_client.get(page("contacts:contacts", agent_a)).status_code == 404
    assert AuditEvent.objects.filter(
        description=f"Removed {member.email} from the organization"
    ).exists()


def test_the_owner_cannot_be_removed(owner: User, admin: User, agent_a: Agent) -> None:
    url = page("accounts:member-remove", agent_a, owner.memberships.get().pk)
    assert client_for(admin).post(url).status_code == 403
    assert client_for(owner).post(url).status_code == 403
    assert Membership.objects.filter(user=owner).exists()


# ---- agents -----------------------------------------------------------------------------


def test_an_admin_creates_and_renames_an_agent(admin: User, agent_a: Agent) -> None:
    client = client_for(admin)
    client.post(page("accounts:agent-new", agent_a), {"name": "Sales bot"})
    created = Agent.objects.get(name="Sales bot")
    assert created.organization == agent_a.organization and len(created.public_id) == 24

    client.post(
        page("accounts:agent-rename", agent_a, created.public_id), {"name": "Sales assistant"}
    )
    created.refresh_from_db()
    assert created.name == "Sales assistant"
    assert AuditEvent.objects.filter(
        description='Renamed agent "Sales bot" to "Sales assistant"'
    ).exists()


def test_an_agent_name_is_required_and_short(admin: User, agent_a: Agent) -> None:
    response = client_for(admin).post(
        page("accounts:agent-new", agent_a), {"name": " "}, headers=HTMX
    )
    assert response.status_code == 422
    long = client_for(admin).post(
        page("accounts:agent-new", agent_a), {"name": "x" * 101}, headers=HTMX
    )
    assert long.status_code == 422
    assert Agent.objects.count() == 1


def test_agents_of_another_organization_cannot_be_renamed(
    owner: User, agent_a: Agent, agent_b: Agent
) -> None:
    url = page("accounts:agent-rename", agent_a, agent_b.public_id)
    assert client_for(owner).post(url, {"name": "Mine now"}).status_code == 404
    agent_b.refresh_from_db()
    assert agent_b.name == "Globex bot"


def test_a_user_cannot_create_agents(member: User, agent_a: Agent) -> None:
    assert (
        client_for(member).post(page("accounts:agent-new", agent_a), {"name": "X"}).status_code
        == 403
    )
    assert Agent.objects.count() == 1


def test_signing_in_with_the_password_still_works_for_the_cast(owner: User, agent_a: Agent) -> None:
    response = Client().post(
        reverse("accounts:login"), {"username": owner.email, "password": PASSWORD}
    )
    assert response.status_code == 302
