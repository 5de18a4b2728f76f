"""The Tool activity page: the user's own calls only, with status, timing and cost."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse

from tests.factories import ConversationFactory, GuestFactory, ToolExecutionFactory, UserFactory


def test_the_activity_page_lists_the_users_calls_only(user_client, user):
    mine = ConversationFactory(user=user, title="Mine")
    ToolExecutionFactory(message__conversation=mine, conversation=mine, tool_name="calculator", status="completed",
                         execution_time_ms=12, cost=Decimal("0.0200"))  # fmt: skip
    ToolExecutionFactory(message__conversation=mine, conversation=mine, tool_name="create_document",
                         status="failed", error_message="No such <b>thing</b>")  # fmt: skip
    theirs = ConversationFactory(user=UserFactory(), title="Theirs")
    ToolExecutionFactory(message__conversation=theirs, conversation=theirs, tool_name="read_document")
    page = user_client.get(reverse("tools:activity")).content.decode()
    assert "calculator" in page and "12 ms" in page and "$0.0200" in page and "Completed" in page
    assert "create_document" in page and "No such &lt;b&gt;thing&lt;/b&gt;" in page
    assert "read_document" not in page and "Theirs" not in page


def test_the_activity_page_says_when_there_is_nothing(user_client):
    assert "No tool has been called yet." in user_client.get(reverse("tools:activity")).content.decode()


def test_guests_and_strangers_do_not_get_the_page(client, db):
    assert client.get(reverse("tools:activity")).status_code == 302  # to sign in
    client.force_login(GuestFactory())
    assert client.get(reverse("tools:activity")).status_code in (302, 403)


def test_the_decide_url_is_not_found_for_another_users_call(client, db):
    other = ConversationFactory()
    execution = ToolExecutionFactory(message__conversation=other, conversation=other, tool_name="create_document")
    client.force_login(UserFactory())
    response = client.post(reverse("tools:decide", args=[execution.id]), {"decision": "approve"})
    assert response.status_code == 404
    execution.refresh_from_db()
    assert execution.status == "pending"
