"""A reply waiting for the user's answer to a tool call: answering it, resuming the reply, stopping it, and
declining calls left unanswered past the timeout.

Nothing of a waiting reply lives in a process: its stream stays active, its calls are ToolExecution rows and its loop
state is in Message.metadata["tool_loop"]. So any process can resume it: the web process that receives the approval
(from any tab), or the sweep's worker once the approval has timed out; a restart in between loses nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import uuid

from django.db import transaction

from accounts.models import AutoApprovalSettings
from accounts.services import ClientInfo
from chatbot.tools import executions
from chatbot.tools.loop import APPROVAL_TIMEOUT, DECLINED, load_state, render_card, round_waiting, tool_metadata
from chatbot.tools.policy import ALLOW
from conversations.models import Message, Stream, ToolExecution

logger = logging.getLogger(__name__)

APPROVE, APPROVE_ALWAYS, DENY = "approve", "always", "deny"


class ArgumentsChanged(Exception):
    """The approval was for other arguments than the call's (a stale or forged form)."""


def claim_resume(*, message_id: uuid.UUID) -> uuid.UUID | None:
    """The active stream to resume, when the reply waits and none of its calls does any more; once (under the
    message's row lock, the waiting mark is cleared by the one caller that gets the stream)."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(id=message_id).first()
        if message is None:
            return None
        loop = (message.metadata or {}).get("tool_loop") or {}
        if not loop.get("waiting") or (loop.get("pending") and round_waiting(loop["pending"])):
            return None
        stream = Stream.objects.filter(message_id=message_id, status=Stream.Status.ACTIVE).first()
        if stream is None:
            return None
        message.metadata = {**message.metadata, "tool_loop": {**loop, "waiting": False}}
        message.save(update_fields=["metadata", "updated_at"])
        return stream.id


def answer(*, user, execution: ToolExecution, decision: str, expected_hash: str) -> uuid.UUID | None:
    """The user's answer to a call's card; the stream to resume when it was the round's last open question.

    Approving twice runs it once (the second finds it approved already); arguments other than the card's refuse.
    """
    if decision in (APPROVE, APPROVE_ALWAYS):
        if not executions.execution_approve(execution=execution, expected_hash=expected_hash):
            execution.refresh_from_db()
            if execution.status == ToolExecution.Status.PENDING:
                raise ArgumentsChanged
        if decision == APPROVE_ALWAYS:
            with transaction.atomic():
                settings, _ = AutoApprovalSettings.objects.select_for_update().get_or_create(user=user)
                specific = dict(settings.specific_tools) if isinstance(settings.specific_tools, dict) else {}
                specific[execution.tool_name] = ALLOW
                settings.specific_tools = specific
                settings.save(update_fields=["specific_tools", "updated_at"])
    else:
        executions.execution_cancel(execution_id=execution.id, reason=DECLINED)
    return claim_resume(message_id=execution.message_id)


def card_html(*, execution: ToolExecution) -> str:
    from accounts.selectors import shows_tool_invocations
    from chatbot.tools.registry import available_tools

    execution.refresh_from_db()
    show = shows_tool_invocations(execution.conversation.user)  # the one reading of the preference
    return render_card(execution, tool=available_tools().get(execution.tool_name), show=show)


# --- Stop, and the timeout --------------------------------------------------------------------------------------


def finish_waiting(*, stream_id: uuid.UUID, status: str, error: str = "") -> str | None:
    """End a waiting reply without resuming it (Stop): its calls cancelled, the text it had saved. The finished
    bubble's HTML, or None when the reply was not waiting (a running generation handles its own Stop)."""
    from conversations.generation import finish_safely
    from conversations.services import GenerationOutcome

    stream = Stream.objects.select_related("message").get(id=stream_id)
    if not claim_stop(message_id=stream.message_id):
        return None
    executions.executions_cancel_open(message_id=stream.message_id, reason="Stopped.")
    state = load_state(stream_id)
    outcome = GenerationOutcome(
        text=state.text,
        status=status,
        error=error,
        provider=stream.message.provider,
        model=stream.message.model,
        input_tokens=state.input_tokens or None,
        output_tokens=state.output_tokens or None,
        metadata=tool_metadata(state, (stream.message.metadata or {}).get("sources")),
    )
    return finish_safely(stream_id, outcome)[1]


def claim_stop(*, message_id: uuid.UUID) -> bool:
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(id=message_id).first()
        loop = (message.metadata or {}).get("tool_loop") or {} if message is not None else {}
        if not loop.get("waiting"):
            return False
        message.metadata = {**message.metadata, "tool_loop": {**loop, "waiting": False}}
        message.save(update_fields=["metadata", "updated_at"])
        return True


async def stop_waiting(stream_id: uuid.UUID) -> None:
    """The Stop button on a reply that waits for an approval: finished as stopped, its listeners told."""
    from chatbot.db import in_thread
    from conversations import streams
    from conversations.models import MessageStatus

    html = await in_thread(lambda: finish_waiting(stream_id=stream_id, status=MessageStatus.CANCELLED))
    if html is None:
        return
    client = streams.redis_client()
    pipe = client.pipeline(transaction=False)
    pipe.xadd(streams.stream_key(stream_id), streams.done_payload(status=MessageStatus.CANCELLED, html_fragment=html))
    pipe.expire(streams.stream_key(stream_id), streams.STREAM_TTL_SECONDS)
    pipe.delete(streams.stop_key(stream_id))
    await pipe.execute()


def is_waiting(stream_id: uuid.UUID) -> bool:
    """Whether an active stream waits for an approval (the sweep leaves it alone: no process runs it)."""
    loop = (Message.objects.filter(streams__id=stream_id).values_list("metadata__tool_loop", flat=True).first()) or {}
    return bool(loop.get("waiting")) if isinstance(loop, dict) else False


def resume_blocking(stream_id: uuid.UUID, *, client: ClientInfo | None = None) -> None:
    """Resume a reply from synchronous code (the sweep's worker), on an event loop of its own in a thread of its
    own, its connections closed after."""
    from chatbot.llm.http import close_http_clients
    from conversations import streams
    from conversations.generation import run_generation

    async def run() -> None:
        try:
            await run_generation(stream_id, client or ClientInfo(user_agent="tool approval timeout"))
        finally:
            await close_http_clients()
            await streams.close_clients()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def expire_approvals() -> int:
    """Calls not answered within APPROVAL_TIMEOUT: declined, and their replies resumed (the model is told)."""
    resumed = 0
    for message_id in executions.executions_expire(older_than=APPROVAL_TIMEOUT):
        stream_id = claim_resume(message_id=message_id)
        if stream_id is None:
            continue
        try:
            resume_blocking(stream_id)
            resumed += 1
        except Exception:
            logger.exception("resuming reply %s after an approval timeout failed", message_id)
    return resumed
