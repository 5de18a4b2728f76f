"""The approval card without JavaScript: a real form (POST, CSRF token in the form) that comes back to the chat;
htmx only enhances it. Against the live app and the fake Anthropic server, like tests/test_tools_loop.py."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from conversations.models import ToolExecution
from documents.models import Document
from tests.factories import UserFactory
from tests.live import session_for
from tests.test_chat_streaming import reply_of, start_chat, with_key
from tests.test_tools_loop import answer_from_result, pending_execution

pytestmark = [pytest.mark.slow]


def browser_without_javascript(client) -> httpx.Client:
    """The user's session and nothing else: no CSRF header, no HX headers; the token comes from the page."""
    return httpx.Client(base_url=client.app.url, cookies={"sessionid": session_for(client.user)}, timeout=30)


def card_form(page: str, execution: ToolExecution) -> tuple[str, dict]:
    """The approval card's form as a browser without JavaScript sees it: its method, action and hidden fields."""
    card = re.search(rf'<div[^>]*id="tool-{execution.id}".*?</form>', page, re.S)  # the card up to its form's end
    assert card, "the pending card is on the page"
    form = re.search(r"<form([^>]*)>(.*?)</form>", card.group(0), re.S)
    attributes = dict(re.findall(r'([\w-]+)="([^"]*)"', form.group(1)))
    assert attributes.get("method") == "post"
    hidden = {name: html.unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(2))}  # fmt: skip
    assert "csrfmiddlewaretoken" in hidden and "arguments_hash" in hidden
    return html.unescape(attributes["action"]), hidden


def test_approve_without_javascript_posts_the_form_and_comes_back_to_the_chat(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [
        {"text": "I will save it.", "calls": [{"name": "create_document",
                                                 "input": {"title": "Plain", "content": "no script"}}]},
        answer_from_result("Done:"),
    ]  # fmt: skip
    conversation, url = start_chat(client, "Save my note")
    execution = pending_execution(conversation)
    with browser_without_javascript(client) as tab:
        page = tab.get(f"/c/{conversation.id}/")
        action, fields = card_form(page.text, execution)
        response = tab.post(action, data={**fields, "decision": "approve"})
        assert response.status_code == 302, response.text[:500]
        assert response.headers["Location"] == f"/c/{conversation.id}/#tool-{execution.id}"
    events = list(client.events(url))
    assert events[-1].event == "done"
    assert reply_of(conversation).content.startswith("I will save it.\n\nDone: Created the document")
    assert Document.objects.filter(owner=client.user, title="Plain").exists()
    execution.refresh_from_db()
    assert execution.status == "completed"


def a_pending_call(live_client, fake_anthropic):
    """A user's chat whose model asked to create a document, the call waiting for their approval."""
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [{"calls": [{"name": "create_document", "input": {"title": "A", "content": "a"}}]}]
    conversation, _ = start_chat(client, "Save it")
    return client, conversation, pending_execution(conversation)


def test_without_javascript_changed_arguments_come_back_with_a_message(live_client, fake_anthropic):
    client, conversation, execution = a_pending_call(live_client, fake_anthropic)
    with browser_without_javascript(client) as tab:
        action, fields = card_form(tab.get(f"/c/{conversation.id}/").text, execution)
        response = tab.post(action, data={**fields, "arguments_hash": "0" * 64, "decision": "approve"})
        assert response.status_code == 302
        page = tab.get(response.headers["Location"]).text
        assert "These are not the arguments of this call any more" in page
    execution.refresh_from_db()
    assert execution.status == "pending"


def test_without_javascript_csrf_is_checked_and_a_stranger_gets_404(live_client, fake_anthropic):
    client, conversation, execution = a_pending_call(live_client, fake_anthropic)
    with browser_without_javascript(client) as tab:
        action, fields = card_form(tab.get(f"/c/{conversation.id}/").text, execution)
        response = tab.post(action, data={"arguments_hash": fields["arguments_hash"], "decision": "approve"})
        assert response.status_code == 403, "no token, no decision"
    stranger = live_client(UserFactory())
    with browser_without_javascript(stranger) as tab:
        tab.get("/c/")  # a page that hands out the stranger's CSRF cookie
        token = tab.cookies.get("csrftoken")
        response = tab.post(action, data={"csrfmiddlewaretoken": token, "arguments_hash": fields["arguments_hash"],
                                          "decision": "approve"})  # fmt: skip
        assert response.status_code == 404
    execution.refresh_from_db()
    assert execution.status == "pending"
