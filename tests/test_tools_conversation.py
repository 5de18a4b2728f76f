"""A conversation's own tool choices (Tools in this chat): saved from the chat's settings panel, validated against
the registry, its owner's only, and they change what the policy decides for that chat."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AutoApprovalSettings
from chatbot.tools.policy import ASK, DENY, RUN, decision_for
from chatbot.tools.registry import builtin_tools
from conversations.models import Conversation
from tests.factories import ConversationFactory, GuestFactory, UserFactory

TOOLS = builtin_tools()


def url(conversation) -> str:
    return reverse("tools:conversation", args=[conversation.id])


def decided(conversation, name: str) -> str:
    conversation = Conversation.objects.get(id=conversation.id)
    return decision_for(user=conversation.user, tool=TOOLS[name], overrides=conversation.auto_approval).verdict


@pytest.fixture
def chat(user):
    AutoApprovalSettings.objects.create(user=user, low_risk_operations=True, require_approval_for_new_tools=False,
                                        specific_tools={"create_document": "allow"})  # fmt: skip
    return ConversationFactory(user=user)


def test_the_chat_page_offers_the_section_and_its_page_lists_every_tool(user_client, chat):
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    assert "Tools in this chat" in page and url(chat) in page
    response = user_client.get(url(chat))
    assert response.status_code == 200
    body = response.content.decode()
    for name in TOOLS:
        assert f'name="tool__{name}"' in body
    assert "As in my settings (always allow)" in body, "the default says what the user's settings hold"
    # Named as the settings menu names it ("Settings → Tools" named a page the menu does not have).
    assert f'<a href="{reverse("accounts:tools")}">Settings → Tool approval</a>' in body
    fragment = user_client.get(url(chat), headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith("<form") and 'hx-post="' + url(chat) in fragment


def test_a_choice_saved_without_javascript_changes_the_decision_in_this_chat_only(user_client, user, chat):
    other_chat = ConversationFactory(user=user)
    assert decided(chat, "calculator") == RUN
    assert decided(chat, "create_document") == RUN
    response = user_client.post(url(chat), {"tool__calculator": "deny", "tool__create_document": "ask"})
    assert response.status_code == 302 and response.url == reverse("conversations:detail", args=[chat.id])
    chat.refresh_from_db()
    assert chat.auto_approval == {"tools": {"calculator": "deny", "create_document": "ask"}}
    assert decided(chat, "calculator") == DENY
    assert decided(chat, "create_document") == ASK
    assert decided(other_chat, "calculator") == RUN, "another chat follows the user's settings"
    assert decided(chat, "current_datetime") == ASK, "a tool left as in my settings follows them"
    # Back to "as in my settings": the override goes, the decision is the user's again.
    response = user_client.post(url(chat), {"tool__calculator": "", "tool__create_document": "ask"},
                                headers={"HX-Request": "true"})  # fmt: skip
    assert response.status_code == 200 and "Saved." in response.content.decode()
    chat.refresh_from_db()
    assert chat.auto_approval == {"tools": {"create_document": "ask"}}
    assert decided(chat, "calculator") == RUN


def test_only_known_tools_and_choices_are_saved(user_client, chat):
    chat.auto_approval = {"read_only_operations": True, "tools": {"gone_mcp_tool": "allow"}}
    chat.save(update_fields=["auto_approval"])
    response = user_client.post(url(chat), {"tool__calculator": "sometimes"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    chat.refresh_from_db()
    assert chat.auto_approval == {"read_only_operations": True, "tools": {"gone_mcp_tool": "allow"}}
    response = user_client.post(url(chat), {"tool__not_a_tool": "allow", "tool__calculator": "allow"})
    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.auto_approval == {
        "read_only_operations": True,
        "tools": {"gone_mcp_tool": "allow", "calculator": "allow"},
    }, "an unknown name is not saved; a tool not offered now (its server down) keeps its choice; other keys stay"


def test_another_user_gets_404_and_changes_nothing(client, chat):
    stranger = UserFactory()
    client.force_login(stranger)
    assert client.get(url(chat)).status_code == 404
    assert client.post(url(chat), {"tool__calculator": "allow"}).status_code == 404
    chat.refresh_from_db()
    assert chat.auto_approval == {}


def test_signed_out_and_guests_are_sent_away(client, chat):
    assert client.post(url(chat), {"tool__calculator": "allow"}).status_code == 302
    client.force_login(GuestFactory())
    assert client.post(url(chat), {"tool__calculator": "allow"}).status_code == 302
    chat.refresh_from_db()
    assert chat.auto_approval == {}


def test_csrf_is_required(user, chat):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(url(chat), {"tool__calculator": "deny"}).status_code == 403
    chat.refresh_from_db()
    assert chat.auto_approval == {}
