"""Tool calls inside a reply, end to end: uvicorn, Redis, the real SDKs against the fakes streaming tool calls.

Auto-approved calls, approval (from another tab, twice), denial, timeout, a resume from another process (the web
process holds nothing while a call waits), Stop, the round and cost limits, a failing tool, usage, IDOR.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from accounts.models import AutoApprovalSettings, Preferences
from accounts.services import SYSTEM, provider_key_save
from chatbot.tools.loop import DECLINED, MAX_ROUNDS
from chatbot.tools.registry import arguments_hash
from conversations.models import Conversation, Message, Stream, ToolExecution, UsageLog
from documents.models import Document
from tests.factories import UserFactory
from tests.fake_tools import last_tool_results
from tests.test_chat_streaming import reply_of, start_chat, wait_for, with_key

pytestmark = [pytest.mark.slow]


def rules(user, **fields) -> None:
    defaults = {"require_approval_for_new_tools": False}
    AutoApprovalSettings.objects.update_or_create(user=user, defaults={**defaults, **fields})


def answer_from_result(prefix: str):
    return {"text": lambda body: prefix + " " + " | ".join(last_tool_results(body))}


def decide(client, execution: ToolExecution, decision: str, arguments: dict | None = None):
    data = {"decision": decision, "arguments_hash": arguments_hash(execution.parameters if arguments is None
                                                                   else arguments)}  # fmt: skip
    return client.post(f"/tools/executions/{execution.id}/decide/", data)


def pending_execution(conversation) -> ToolExecution:
    """The call the reply waits for, once the reply has saved its waiting state."""
    wait_for(lambda: Message.objects.filter(conversation=conversation, metadata__tool_loop__waiting=True).exists())
    return ToolExecution.objects.get(conversation=conversation, status="pending")


def test_an_auto_approved_call_runs_and_the_reply_goes_on_in_the_same_stream(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    rules(client.user, low_risk_operations=True)
    fake_anthropic.tool_script[:] = [
        {"text": "Let me compute that.", "calls": [{"name": "calculator", "input": {"expression": "6 * 7"}}]},
        answer_from_result("The answer is"),
    ]
    conversation, url = start_chat(client, "What is six times seven?")
    events = list(client.events(url))
    kinds = [event.event for event in events]
    assert "tool" in kinds and kinds[-1] == "done"
    assert kinds.index("tool") > kinds.index("delta"), "the card comes after the text that led to it"
    message = reply_of(conversation)
    assert message.status == "complete"
    assert message.content == "Let me compute that.\n\nThe answer is 42"
    execution = ToolExecution.objects.get(conversation=conversation)
    assert (execution.status, execution.parameters, execution.result["text"]) == (
        "completed",
        {"expression": "6 * 7"},
        "42",
    )
    assert execution.approved_at and execution.executed_at and execution.completed_at
    assert execution.execution_time_ms is not None
    first, second = fake_anthropic.requests
    assert {tool["name"] for tool in first["tools"]} >= {"calculator", "search_documents", "create_document"}
    assert second["messages"][-2]["content"][-1]["type"] == "tool_use"
    assert second["messages"][-1]["content"][0] == {
        "type": "tool_result", "tool_use_id": second["messages"][-2]["content"][-1]["id"], "content": "42",
        "is_error": False,
    }  # fmt: skip
    assert f'id="tool-{execution.id}"' in events[-1].data and "calculator" in events[-1].data
    # The card stands where the call was made, between the text that led to it and the text that followed, in the
    # finished bubble and on the page read again.
    assert message.metadata["tool_offsets"] == {str(execution.id): len("Let me compute that.")}
    page = client.get(f"/c/{conversation.id}/").text
    for html in (events[-1].data, page):
        html = html[html.index(f'id="message-{message.id}"') :]  # the bubble (the sidebar previews the text too)
        before = html.index("Let me compute that.")
        assert before < html.index(f'id="tool-{execution.id}"') < html.index("The answer is 42")
        assert html.count('class="markdown"') == 2, "the text in two parts, one on each side of the card"
    usage = UsageLog.objects.get(message=message)
    assert usage.input_tokens == message.input_tokens > 80, "both rounds' tokens are counted"
    assert usage.output_tokens == message.output_tokens >= 2 * 10


def test_a_write_call_waits_for_approval_from_another_tab_then_the_reply_goes_on(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [
        {"text": "I will save it.", "calls": [{"name": "create_document",
                                                 "input": {"title": "Shopping", "content": "- milk"}}]},
        answer_from_result("Done:"),
    ]  # fmt: skip
    conversation, url = start_chat(client, "Save my shopping list")
    execution = pending_execution(conversation)
    stream = Stream.objects.get(conversation=conversation)
    assert stream.status == "active" and not Document.objects.filter(owner=client.user).exists()
    page = client.get(f"/c/{conversation.id}/").text
    assert f'id="tool-{execution.id}"' in page and "Approve always for this tool" in page, "a reload shows the card"
    other_tab = live_client(client.user)
    response = decide(other_tab, execution, "approve")
    assert response.status_code == 200
    events = list(client.events(url))
    assert events[-1].event == "done"
    message = reply_of(conversation)
    assert message.status == "complete" and message.content.startswith("I will save it.\n\nDone: Created the document")
    document = Document.objects.get(owner=client.user)
    assert document.title == "Shopping" and document.source == "generated"
    execution.refresh_from_db()
    assert execution.status == "completed" and execution.approved_at is not None
    assert len(fake_anthropic.requests) == 2


def test_approving_twice_runs_the_call_once(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [
        {"calls": [{"name": "create_document", "input": {"title": "Once", "content": "only once"}}]},
        {"text": "Saved."},
        {"text": "A second continuation must never be asked for."},
    ]
    conversation, url = start_chat(client, "Save it")
    execution = pending_execution(conversation)
    assert decide(client, execution, "approve").status_code == 200
    assert decide(client, execution, "approve").status_code == 200
    list(client.events(url))
    assert Document.objects.filter(owner=client.user).count() == 1
    assert reply_of(conversation).content == "Saved."
    assert len(fake_anthropic.requests) == 2


def test_approval_is_bound_to_the_arguments_shown(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [{"calls": [{"name": "create_document", "input": {"title": "A", "content": "a"}}]}]
    conversation, _ = start_chat(client, "Save it")
    execution = pending_execution(conversation)
    response = decide(client, execution, "approve", arguments={"title": "B", "content": "evil"})
    assert response.status_code == 409
    execution.refresh_from_db()
    assert execution.status == "pending"


def test_deny_tells_the_model_the_user_declined(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [
        {"calls": [{"name": "update_document", "input": {"document_id": "x", "content": "y"}}]},
        answer_from_result("Told:"),
    ]
    conversation, url = start_chat(client, "Change my document")
    execution = pending_execution(conversation)
    assert decide(client, execution, "deny").status_code == 200
    list(client.events(url))
    execution.refresh_from_db()
    assert execution.status == "cancelled"
    result = fake_anthropic.requests[-1]["messages"][-1]["content"][0]
    assert result["content"] == DECLINED and result["is_error"] is True
    assert reply_of(conversation).content == f"Told: {DECLINED}"


def test_approve_always_saves_the_tool_as_allowed(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [
        {"calls": [{"name": "current_datetime", "input": {"timezone": "UTC"}}]},
        {"text": "It is late."},
    ]
    conversation, url = start_chat(client, "What time is it?")
    decide(client, pending_execution(conversation), "always")
    list(client.events(url))
    assert AutoApprovalSettings.objects.get(user=client.user).specific_tools == {"current_datetime": "allow"}
    assert reply_of(conversation).content == "It is late."


def test_only_the_owner_can_answer_a_call(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [{"calls": [{"name": "create_document", "input": {"title": "A", "content": "a"}}]}]
    conversation, _ = start_chat(client, "Save it")
    execution = pending_execution(conversation)
    stranger = live_client(UserFactory())
    for decision in ("approve", "always", "deny"):
        assert decide(stranger, execution, decision).status_code == 404
    token = "a" * 32  # signed out, with a valid CSRF pair: the 404 is the view's answer, not CSRF's
    with httpx.Client(base_url=client.app.url, cookies={"csrftoken": token}) as anonymous:
        headers = {"X-CSRFToken": token, "Referer": client.app.url + "/"}
        response = anonymous.post(
            f"/tools/executions/{execution.id}/decide/", data={"decision": "approve"}, headers=headers
        )
    assert response.status_code == 404
    execution.refresh_from_db()
    assert execution.status == "pending"
    assert (
        AutoApprovalSettings.objects.filter(user=stranger.user, specific_tools__has_key="create_document").count() == 0
    )


def test_a_reply_waiting_for_approval_is_not_marked_alive_and_the_sweep_leaves_it_waiting(live_client, fake_anthropic):
    """Nothing runs a reply while it waits for the user: its alive mark goes (so nothing waits on it as running), and
    the sweep, which fails replies whose process died, knows it from its waiting state instead."""
    import redis
    from django.conf import settings

    from conversations import streams
    from conversations.generation import sweep_stale_streams

    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [{"calls": [{"name": "create_document", "input": {"title": "A", "content": "a"}}]}]
    conversation, _ = start_chat(client, "Save it")
    execution = pending_execution(conversation)
    stream = Stream.objects.get(conversation=conversation)
    with redis.Redis.from_url(settings.REDIS_URL) as redis_client:
        wait_for(lambda: not redis_client.exists(streams.alive_key(stream.id)))
    assert sweep_stale_streams(older_than_seconds=0) == 0
    stream.refresh_from_db()
    execution.refresh_from_db()
    assert (stream.status, execution.status) == (Stream.Status.ACTIVE, "pending")


def test_stop_while_waiting_cancels_the_call_and_ends_the_reply(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [
        {"text": "Saving.", "calls": [{"name": "create_document", "input": {"title": "A", "content": "a"}}]}
    ]
    conversation, url = start_chat(client, "Save it")
    execution = pending_execution(conversation)
    stream = Stream.objects.get(conversation=conversation)
    assert client.post(f"/c/streams/{stream.id}/stop/").status_code == 204
    events = list(client.events(url))
    assert events[-1].event == "done" and "Stopped" in events[-1].data
    execution.refresh_from_db()
    message = reply_of(conversation)
    assert (execution.status, message.status, message.content) == ("cancelled", "cancelled", "Saving.")
    assert decide(client, execution, "approve").status_code == 200, "a late answer changes nothing"
    execution.refresh_from_db()
    assert execution.status == "cancelled" and not Document.objects.filter(owner=client.user).exists()


def test_a_timed_out_approval_is_declined_and_the_reply_finished_by_another_process(
    live_client, fake_anthropic, settings
):
    """The web process keeps nothing of a waiting reply: the sweep's process (here the test's) declines the stale
    call from the database and runs the rest of the reply, which the page's stream still receives."""
    from chatbot.tools.waiting import expire_approvals

    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [
        {"text": "One moment.", "calls": [{"name": "create_document", "input": {"title": "A", "content": "a"}}]},
        answer_from_result("After the timeout:"),
    ]
    conversation, url = start_chat(client, "Save it")
    execution = pending_execution(conversation)
    assert expire_approvals() == 0, "not stale yet"
    ToolExecution.objects.filter(id=execution.id).update(
        approval_requested_at=timezone.now() - dt.timedelta(minutes=11)
    )
    assert expire_approvals() == 1
    events = list(client.events(url))
    assert events[-1].event == "done"
    execution.refresh_from_db()
    assert execution.status == "cancelled" and "Not answered in time" in execution.error_message
    message = reply_of(conversation)
    assert message.status == "complete"
    assert message.content == f"One moment.\n\nAfter the timeout: {DECLINED}"
    assert UsageLog.objects.get(message=message).input_tokens == message.input_tokens


def test_the_sweep_leaves_a_reply_that_waits_for_an_approval(live_client, fake_anthropic, settings):
    import redis

    from conversations import streams as stream_keys
    from conversations.generation import sweep_stale_streams

    client = live_client(with_key(UserFactory()))
    fake_anthropic.tool_script[:] = [{"calls": [{"name": "create_document", "input": {"title": "A", "content": "a"}}]}]
    conversation, _ = start_chat(client, "Save it")
    pending_execution(conversation)
    Stream.objects.filter(conversation=conversation).update(created_at=timezone.now() - dt.timedelta(minutes=5))
    stream = Stream.objects.get(conversation=conversation)
    redis.Redis.from_url(settings.REDIS_URL).delete(stream_keys.alive_key(stream.id))  # as after 30 s unattended
    assert sweep_stale_streams() == 0
    stream.refresh_from_db()
    assert stream.status == "active"


def test_rounds_are_limited_per_reply(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    rules(client.user, low_risk_operations=True)
    fake_anthropic.tool_script[:] = [
        {"calls": [{"name": "calculator", "input": {"expression": f"{n} + 1"}}]} for n in range(MAX_ROUNDS + 1)
    ]
    conversation, url = start_chat(client, "Count forever")
    list(client.events(url))
    message = reply_of(conversation)
    assert message.status == "complete"
    assert f"at most {MAX_ROUNDS} rounds of tool calls" in message.content
    assert ToolExecution.objects.filter(conversation=conversation).count() == MAX_ROUNDS
    assert len(fake_anthropic.requests) == MAX_ROUNDS + 1


def test_a_failing_tool_is_shown_and_the_model_told(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    rules(client.user, low_risk_operations=True)
    fake_anthropic.tool_script[:] = [
        {"calls": [{"name": "calculator", "input": {"expression": "1/0"}}, {"name": "no_such_tool", "input": {}}]},
        answer_from_result("Oops:"),
    ]
    conversation, url = start_chat(client, "Divide by zero")
    events = list(client.events(url))
    failed = ToolExecution.objects.filter(conversation=conversation).order_by("created_at")
    assert [(e.tool_name, e.status) for e in failed] == [("calculator", "failed"), ("no_such_tool", "failed")]
    assert failed[0].error_message == "Division by zero."
    assert reply_of(conversation).content == (
        "Oops: The tool failed: Division by zero. | The tool failed: There is no tool named no_such_tool."
    )
    assert "Division by zero." in events[-1].data


def test_the_hourly_cost_cap_refuses_with_a_message_in_the_bubble(live_client, fake_anthropic):
    client = live_client(with_key(UserFactory()))
    rules(client.user, specific_tools={"request_suggestions": "allow"}, max_cost_per_hour=Decimal("0.10"))
    fake_anthropic.tool_script[:] = [
        {"calls": [{"name": "request_suggestions", "input": {"document_id": "00000000-0000-0000-0000-000000000000"}}]},
        answer_from_result("Limit:"),
    ]
    from tests.factories import ConversationFactory, ToolExecutionFactory

    spent = ConversationFactory(user=client.user)
    ToolExecutionFactory(message__conversation=spent, conversation=spent, cost=Decimal("0.08"), status="completed")
    assert client.post("/c/new/", {"content": "Improve my document"}).status_code == 204
    conversation = Conversation.objects.exclude(id=spent.id).get(user=client.user)
    url = f"/c/streams/{Stream.objects.get(conversation=conversation).id}/events/"
    events = list(client.events(url))
    execution = ToolExecution.objects.get(conversation=conversation)
    assert execution.status == "cancelled" and "hourly limit on tool costs ($0.1000) is reached" in (
        execution.error_message
    )
    assert "hourly limit on tool costs" in events[-1].data
    assert reply_of(conversation).content.startswith("Limit: Not run: The hourly limit")


@pytest.mark.parametrize("show", [True, False])
def test_show_tool_invocations_hides_the_cards_but_never_an_approval(live_client, fake_anthropic, show):
    client = live_client(with_key(UserFactory()))
    Preferences.objects.update_or_create(user=client.user, defaults={"show_tool_invocations": show})
    rules(client.user, low_risk_operations=True)
    fake_anthropic.tool_script[:] = [
        {"calls": [{"name": "calculator", "input": {"expression": "2 + 2"}},
                   {"name": "create_document", "input": {"title": "A", "content": "a"}}]},
        {"text": "Done."},
    ]  # fmt: skip
    conversation, url = start_chat(client, "Compute and save")
    pending = pending_execution(conversation)
    computed = ToolExecution.objects.get(conversation=conversation, tool_name="calculator")
    page = client.get(f"/c/{conversation.id}/").text
    assert "Approve always for this tool" in page
    decide(client, pending, "deny")
    done = list(client.events(url))[-1].data
    assert (f'<details class="tool-card tool-card-completed" id="tool-{computed.id}"' in done) is show
    assert f'id="tool-{computed.id}"' in done


def calculator_chat(live_client, fake, *, provider: str, model: str, expression: str) -> Conversation:
    """A first question on `model` whose reply computes `expression` with the calculator (auto-approved), read to
    its end: the same chat through each provider's protocol."""
    user = UserFactory()
    provider_key_save(user=user, provider=provider, api_key=f"{provider}-tools-key-0001", client=SYSTEM)
    client = live_client(user)
    rules(user, low_risk_operations=True)
    fake.tool_script[:] = [
        {"text": "Computing.", "calls": [{"name": "calculator", "input": {"expression": expression}}]},
        answer_from_result("It is"),
    ]
    response = client.post("/c/new/", {"content": f"What is {expression}?", "model": model})
    assert response.status_code == 204, response.text
    conversation = Conversation.objects.get(user=user)
    list(client.events(f"/c/streams/{Stream.objects.get(conversation=conversation).id}/events/"))
    return conversation


def test_tools_through_openai_compatible_tool_calls(live_client, fake_openai):
    conversation = calculator_chat(live_client, fake_openai, provider="openai", model="openai:gpt-5.5",
                                   expression="2 ** 10")  # fmt: skip
    assert reply_of(conversation).content == "Computing.\n\nIt is 1024"
    second = fake_openai.requests[-1]["body"]
    call = second["messages"][-2]["tool_calls"][0]
    assert call["function"] == {"name": "calculator", "arguments": '{"expression": "2 ** 10"}'}
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": call["id"], "content": "1024"}
    assert {t["function"]["name"] for t in second["tools"]} >= {"calculator"}


def test_tools_through_gemini_function_calls_with_their_thought_signatures(live_client, fake_gemini):
    """Gemini: the tools declared, a functionCall part run as any call, its response sent back as a
    functionResponse, and the call's thought signature with it (the fake, like the API, refuses a call without)."""
    conversation = calculator_chat(live_client, fake_gemini, provider="google", model="google:gemini-3.8-flash",
                                   expression="3 ** 4")  # fmt: skip
    message = reply_of(conversation)
    assert (message.status, message.content) == ("complete", "Computing.\n\nIt is 81")
    execution = ToolExecution.objects.get(conversation=conversation)
    assert (execution.tool_name, execution.parameters, execution.status) == (
        "calculator",
        {"expression": "3 ** 4"},
        "completed",
    )
    first, second = (request["body"] for request in fake_gemini.requests)
    declared = {d["name"] for tool in first["tools"] for d in tool.get("functionDeclarations", [])}
    assert {"calculator", "search_documents", "create_document"} <= declared
    model_turn, user_turn = second["contents"][-2:]
    call = next(part for part in model_turn["parts"] if "functionCall" in part)
    assert call["functionCall"]["name"] == "calculator" and call["functionCall"]["args"] == {"expression": "3 ** 4"}
    assert call["thoughtSignature"]
    assert user_turn["parts"][0]["functionResponse"]["response"] == {"result": "81"}
    assert user_turn["parts"][0]["functionResponse"]["id"] == call["functionCall"]["id"]
    assert UsageLog.objects.get(message=message).output_tokens == message.output_tokens > 0


def test_a_gemini_call_approved_later_goes_back_with_its_thought_signature(live_client, fake_gemini):
    """The signature is kept with the paused reply's state, so the call sent back after an approval carries it."""
    user = UserFactory()
    provider_key_save(user=user, provider="google", api_key="gemini-tools-key", client=SYSTEM)
    client = live_client(user)
    fake_gemini.tool_script[:] = [
        {"text": "I will save it.", "calls": [{"name": "create_document", "input": {"title": "Plan", "content": "x"}}]},
        answer_from_result("Done:"),
    ]
    response = client.post("/c/new/", {"content": "Save a plan", "model": "google:gemini-3.8-flash"})
    assert response.status_code == 204, response.text
    conversation = Conversation.objects.get(user=user)
    url = f"/c/streams/{Stream.objects.get(conversation=conversation).id}/events/"
    assert decide(client, pending_execution(conversation), "approve").status_code == 200
    list(client.events(url))
    assert reply_of(conversation).content.startswith("I will save it.\n\nDone: Created the document")
    call = next(part for part in fake_gemini.requests[-1]["body"]["contents"][-2]["parts"] if "functionCall" in part)
    assert call["thoughtSignature"]


def test_a_model_the_catalogue_says_calls_no_tools_is_sent_none(live_client, fake_anthropic):
    """The admin's "tools" capability of a model (ChatModel.supports_tools): unticked, its replies offer no tools."""
    from catalog.models import ChatModel

    client = live_client(with_key(UserFactory()))
    rules(client.user, low_risk_operations=True)
    conversation, url = start_chat(client, "What is six times seven?")
    list(client.events(url))
    assert {tool["name"] for tool in fake_anthropic.requests[-1]["tools"]} >= {"calculator"}, "ticked: offered"
    ChatModel.objects.filter(provider="anthropic", model_id=conversation.model).update(supports_tools=False)
    response = client.post(f"/c/{conversation.id}/messages/", {"content": "And seven times eight?"})
    assert response.status_code == 200, response.text
    list(
        client.events(f"/c/streams/{Stream.objects.filter(conversation=conversation).latest('created_at').id}/events/")
    )
    assert "tools" not in fake_anthropic.requests[-1], "unticked in the catalogue: no tools sent"
    assert reply_of(conversation).status == "complete"


@pytest.mark.parametrize("where", ["chat", "settings"])
def test_with_use_my_documents_off_the_document_tools_are_not_offered(live_client, fake_anthropic, where):
    """ "Use my documents to answer" off, for the chat or in the user's settings: the model is not offered the tools
    that read the user's documents (it searched them anyway, unasked when read-only tools run without asking)."""
    from accounts.models import RetrievalSettings

    client = live_client(with_key(UserFactory()))
    rules(client.user, read_only_operations=True)
    conversation, url = start_chat(client, "What do my notes say?")
    list(client.events(url))
    offered = {tool["name"] for tool in fake_anthropic.requests[-1]["tools"]}
    assert {"search_documents", "read_document", "calculator"} <= offered, "on: offered"

    if where == "chat":
        Conversation.objects.filter(id=conversation.id).update(retrieval_enabled=False)
    else:
        RetrievalSettings.objects.update_or_create(user=client.user, defaults={"enabled": False})
    response = client.post(f"/c/{conversation.id}/messages/", {"content": "And now?"})
    assert response.status_code == 200, response.text
    list(
        client.events(f"/c/streams/{Stream.objects.filter(conversation=conversation).latest('created_at').id}/events/")
    )
    offered = {tool["name"] for tool in fake_anthropic.requests[-1]["tools"]}
    assert "calculator" in offered and not offered & {"search_documents", "read_document"}
