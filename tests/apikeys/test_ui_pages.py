"""The API Permissions pages through the role matrix: Owner and Admin manage, a User gets a
403 page, a member of another organization a 404, an anonymous visitor the login page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Agent, User
from apikeys.models import ApiKey
from tests.conftest import client_for
from tests.factories import AgentFactory, make_key

pytestmark = pytest.mark.django_db

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)

# (url name, method, whether the url names a key)
ACTIONS = [
    ("apikeys:api-permissions", "get", False),
    ("apikeys:api-key-new", "get", False),
    ("apikeys:api-key-new", "post", False),
    ("apikeys:api-key-edit", "get", True),
    ("apikeys:api-key-edit", "post", True),
    ("apikeys:api-key-rotate", "get", True),
    ("apikeys:api-key-rotate", "post", True),
    ("apikeys:api-key-delete", "get", True),
    ("apikeys:api-key-delete", "post", True),
    ("apikeys:api-key-reveal", "post", True),
]
GET_PAGES = [(name, with_key) for name, method, with_key in ACTIONS if method == "get"]


@pytest.fixture
def key(agent_a: Agent) -> ApiKey:
    return make_key(agent_a, "contacts_read", name="Zapier")[0]


def url_for(name: str, agent: Agent, key: ApiKey | None = None) -> str:
    args = [agent.public_id] + ([key.key_id] if key else [])
    return reverse(name, args=args)


def send(client: Client, method: str, url: str):
    return getattr(client, method)(url)


@pytest.mark.parametrize(("name", "with_key"), GET_PAGES)
@pytest.mark.parametrize("role", ["owner", "admin"])
def test_owners_and_admins_open_every_page(
    request: pytest.FixtureRequest,
    role: str,
    name: str,
    with_key: bool,
    agent_a: Agent,
    key: ApiKey,
) -> None:
    user = request.getfixturevalue(role)
    response = client_for(user).get(url_for(name, agent_a, key if with_key else None))
    assert response.status_code == 200
    assert "API Permission" in response.content.decode()


@pytest.mark.parametrize(("name", "method", "with_key"), ACTIONS)
def test_a_user_gets_a_clear_403_page_and_changes_nothing(
    name: str, method: str, with_key: bool, member: User, agent_a: Agent, key: ApiKey
) -> None:
    response = send(client_for(member), method, url_for(name, agent_a, key if with_key else None))

    assert response.status_code == 403
    html = response.content.decode()
    assert "You don't have access to this page" in html
    assert "Owner and Admins" in html
    assert ApiKey.objects.get() == key and key.name == "Zapier"


@pytest.mark.parametrize(("name", "method", "with_key"), ACTIONS)
def test_a_member_of_another_organization_gets_404(
    name: str, method: str, with_key: bool, stranger: User, agent_a: Agent, key: ApiKey
) -> None:
    response = send(client_for(stranger), method, url_for(name, agent_a, key if with_key else None))

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert ApiKey.objects.filter(pk=key.pk).exists()


@pytest.mark.parametrize(("name", "method", "with_key"), ACTIONS)
def test_anonymous_visitors_are_sent_to_log_in(
    client: Client, name: str, method: str, with_key: bool, agent_a: Agent, key: ApiKey
) -> None:
    response = send(client, method, url_for(name, agent_a, key if with_key else None))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize(
    "name", ["apikeys:api-key-edit", "apikeys:api-key-rotate", "apikeys:api-key-delete"]
)
def test_a_key_of_another_agent_is_not_found_through_this_agent(
    name: str, owner: User, agent_a: Agent, agent_b: Agent
) -> None:
    sibling = AgentFactory(organization=agent_a.organization, name="Sales bot")
    for other in (make_key(sibling)[0], make_key(agent_b)[0]):
        assert client_for(owner).get(url_for(name, agent_a, other)).status_code == 404
        assert client_for(owner).post(url_for(name, agent_a, other)).status_code == 404
    assert ApiKey.objects.count() == 2


def test_every_post_needs_the_csrf_token(owner: User, agent_a: Agent, key: ApiKey) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post(url_for("apikeys:api-key-delete", agent_a, key))

    assert response.status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_the_page_has_the_seed_title_subtitle_and_empty_state(owner: User, agent_a: Agent) -> None:
    response = client_for(owner).get(url_for("apikeys:api-permissions", agent_a))

    html = response.content.decode()
    assert "<h1>API Permission</h1>" in html
    assert "Manage API keys and their permissions for external integrations." in html
    assert "Add API Key" in html
    assert "No API keys yet." in html
    assert 'aria-current="page">API Permissions</a>' in html


def test_the_list_shows_columns_badges_and_flags(owner: User, agent_a: Agent) -> None:
    now = timezone.now()
    make_key(agent_a, "contacts_read", "documents_create", name="Both areas")
    make_key(agent_a, name="Nothing granted", expires_at=now + timedelta(days=5))
    idle, _ = make_key(agent_a, "documents_read", name="Old one")
    ApiKey.objects.filter(pk=idle.pk).update(
        created_at=now - timedelta(days=200), last_used_at=now - timedelta(days=120)
    )
    expired, _ = make_key(agent_a, "contacts_read", name="Gone")
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(days=1))

    html = client_for(owner).get(url_for("apikeys:api-permissions", agent_a)).content.decode()

    for column in ("Name", "Access", "Created", "Last used", "Expires"):
        assert re.search(rf'<th scope="col" class="col-[a-z]+">{column}</th>', html), column
    assert 'title="Contact Access: Read">Contacts</span>' in html
    assert 'title="Document Extraction Access: Create">Documents</span>' in html
    assert ">No access</span>" in html
    assert ">Never used</span>" in html
    assert ">Expires soon</span>" in html
    assert ">Idle 90+ days</span>" in html
    assert ">Expired</span>" in html
    assert ">3\xa0months ago</time>" in html  # last used
    assert ">Copy API Key</span></button>" in html
    for action in ("Edit", "Rotate", "Delete"):
        assert f'aria-label="{action} Both areas" title="{action}"' in html
    assert "No API keys yet." not in html


def test_a_phone_user_agent_gets_the_desktop_only_notice(owner: User, agent_a: Agent) -> None:
    for headers in ({"user_agent": IPHONE}, {"user_agent": ANDROID}):
        response = client_for(owner).get(
            url_for("apikeys:api-permissions", agent_a), headers=headers
        )

        html = response.content.decode()
        assert response.status_code == 200
        assert "Desktop Only" in html
        assert "API Permissions is available on desktop only." in html
        assert "Add API Key" not in html
        assert 'id="modal"' not in html


def test_a_tablet_gets_the_page_not_the_desktop_only_notice(owner: User, agent_a: Agent) -> None:
    for agent in (IPAD, ANDROID_TABLET):
        response = client_for(owner).get(
            url_for("apikeys:api-permissions", agent_a), user_agent=agent
        )
        html = response.content.decode()
        assert "Add API Key" in html, agent
        assert 'id="modal"' in html


def test_sec_ch_ua_mobile_gets_the_desktop_only_notice_for_actions_too(
    owner: User, agent_a: Agent, key: ApiKey
) -> None:
    client = client_for(owner)
    headers = {"user_agent": DESKTOP, "sec_ch_ua_mobile": "?1"}

    page = client.get(url_for("apikeys:api-permissions", agent_a), headers=headers)
    delete = client.post(url_for("apikeys:api-key-delete", agent_a, key), headers=headers)

    assert "Desktop Only" in page.content.decode()
    assert "Desktop Only" in delete.content.decode()
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_a_desktop_gets_the_controls_and_the_notice_only_for_narrow_screens(
    owner: User, agent_a: Agent
) -> None:
    response = client_for(owner).get(
        url_for("apikeys:api-permissions", agent_a),
        headers={"user_agent": DESKTOP, "sec_ch_ua_mobile": "?0"},
    )

    html = response.content.decode()
    assert "Add API Key" in html
    assert 'class="card desktop-notice narrow-only"' in html


def test_responses_vary_on_device_and_htmx_and_ask_for_the_mobile_hint(
    owner: User, agent_a: Agent
) -> None:
    response = client_for(owner).get(url_for("apikeys:api-permissions", agent_a))

    vary = {part.strip() for part in response["Vary"].split(",")}
    assert {"HX-Request", "User-Agent", "Sec-CH-UA-Mobile"} <= vary
    assert response["Accept-CH"] == "Sec-CH-UA-Mobile"
    assert "no-store" in response["Cache-Control"]


def test_the_page_needs_no_inline_script_or_style(owner: User, agent_a: Agent, key: ApiKey) -> None:
    client = client_for(owner)
    pages = [
        client.get(url_for("apikeys:api-permissions", agent_a)),
        client.get(url_for("apikeys:api-key-new", agent_a)),
        client.get(url_for("apikeys:api-key-edit", agent_a, key)),
    ]
    for response in pages:
        html = response.content.decode()
        assert " style=" not in html
        assert " onclick=" not in html and " hx-on" not in html
        assert "<script>" not in html
        assert "/static/js/modal.js" in html
