"""Generating a reply in the web process's event loop, detached from the browser connection.

The POST that saved the messages starts `start_generation`; the task streams the provider's deltas into Redis
(conversations/streams.py), which any number of SSE connections relay. Closing the tab does not stop it; the
Stop button does (via a Redis flag). The message row is written once, at the end, with whatever arrived.
A generation whose process died is finished later by `sweep_stale_streams` (a Celery beat job).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field

import redis
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.services import ClientInfo, KeyUse, key_use_record, provider_credentials
from catalog.models import ChatModel
from catalog.selectors import NOT_READ, NotRead, catalogue_entry
from chatbot import metrics
from chatbot.db import in_thread
from chatbot.llm.base import ChatRequest, Finished, Provider, ProviderError, TextDelta, ThinkingDelta
from chatbot.llm.catalog import PROVIDERS
from chatbot.llm.offline import OfflineProvider
from chatbot.llm.providers import provider_for
from chatbot.logging import request_id_var
from chatbot.netpolicy import BaseUrlRefused
from chatbot.text import strip_unsafe
from chatbot.tools.loop import (
    NO_CSRF_TOKEN,
    AwaitingApproval,
    LoopState,
    model_calls_tools,
    offers_tools,
    reply_events,
    state_for,
)
from chatbot.tools.waiting import is_waiting
from conversations import streams
from conversations.attachments import prompt_attachments, question_attachments
from conversations.compare import compare_column
from conversations.models import ChatProvider, Message, Stream
from conversations.prompting import (
    estimate_tokens,
    fit_history,
    request_tokens,
    system_with_project,
    system_with_sources,
)
from conversations.selectors import message_path
from conversations.services import (
    Generation,
    GenerationOutcome,
    context_optimization_record,
    generation_finish,
)
from conversations.summaries import ContextPlan, marker_out_of_band, plan_context, summarise_before_reply
from conversations.titles import name_conversation, title_pending_set, will_name

logger = logging.getLogger(__name__)

_running: set[asyncio.Task] = set()


@dataclass
class Prepared:
    provider: Provider | None
    request: ChatRequest | None
    provider_name: str
    model: str
    error: ProviderError | None = None
    metadata: dict = field(default_factory=dict)
    # The reply answers a message sent just now, so it has no siblings (no second reply can start beside it
    # while it streams): its bubble needs no branch arrows, nor a query to count them.
    only_child: bool = False
    key: KeyUse | None = None  # the user's own key, when it is theirs that the provider is called with
    guest: bool = False
    # The conversation's first question, when this is its first reply: a small model names the conversation after.
    first_question: str = ""
    conversation_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    # A summary of the branch's oldest turns is due before the reply (conversations/summaries.py).
    context_plan: ContextPlan | None = None
    # The tool loop's state, made with the prompt for a reply that may call tools (else loaded when it starts).
    loop_state: LoopState | None = None
    # The catalogue's "tools" capability of the reply's model (chatbot/tools/loop.py: model_calls_tools).
    model_calls_tools: bool = True
    # The reply's model's catalogue row (None: it has none), read with the prompt; it prices the reply too.
    catalogue_entry: ChatModel | NotRead | None = NOT_READ
    # Set once the reply's first step has run on the event loop (its provider request written, as a rule) or it
    # ended before that: see `wait_for_hand_off`.
    handed_off: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)


# A POST's thread renders its page fragment while the reply it started builds and sends the provider's request on
# the event loop. The two share the GIL, so on a quiet server the request went out 2-3 ms later than it could
# (bench/timed_asgi.py's BENCH_TRACE timeline); the thread now waits for the hand-off first. The fragment is not
# needed before the first token (the provider's own latency is longer), but under load the thread's slot is, so
# the wait is kept for a server with few replies running, and short.
HAND_OFF_QUIET_REPLIES = 4
HAND_OFF_WAIT_SECONDS = 0.02


def hand_off(prepared: list[Prepared], *, wait: bool = True) -> None:
    """In a request's thread, once it has started its replies: give them the interpreter until their provider
    requests are sent (`wait`, on a quiet server only; never longer than HAND_OFF_WAIT_SECONDS), then record the uses
    of the users' keys (`prepare_generation(defer_key_audit=True)`), which a failed reply waits for to mark them
    failed."""
    try:
        if wait and len(_running) <= HAND_OFF_QUIET_REPLIES:
            deadline = time.monotonic() + HAND_OFF_WAIT_SECONDS
            for ready in prepared:
                ready.handed_off.wait(max(0.0, deadline - time.monotonic()))
    finally:
        for ready in prepared:
            if ready.key is not None:
                key_use_record(key=ready.key)


def resolve_provider(
    *, conversation, client: ClientInfo, name: str = "", defer_audit: bool = False
) -> tuple[Provider | None, str, ProviderError | None, KeyUse | None]:
    """The provider for a conversation (or `name`, a reply's own): the user's own key first (audited, or to be by
    `key_use_record` with `defer_audit`), then the operator's."""
    name = name or conversation.provider
    if name == ChatProvider.OFFLINE:
        return OfflineProvider(guest=conversation.user.is_guest), ChatProvider.OFFLINE, None, None
    spec = PROVIDERS.get(name)
    if spec is None:
        return None, name, ProviderError(ProviderError.NO_KEY, f"{name} is not a provider this app knows"), None
    try:
        credentials = provider_credentials(
            user=conversation.user, provider=name, client=client, defer_audit=defer_audit
        )
    except BaseUrlRefused as exc:
        return None, name, ProviderError(ProviderError.BASE_URL_REFUSED, exc.reason), exc.key
    if credentials is None:
        return None, name, ProviderError(ProviderError.NO_KEY), None
    provider = provider_for(
        spec, api_key=credentials.api_key, base_url=credentials.base_url, user_base_url=credentials.user_base_url
    )
    return provider, name, None, credentials.key


def failure_metadata(*, error: ProviderError, provider_name: str, key: KeyUse | None, guest: bool) -> dict:
    """What the failed bubble needs to say which key failed and link to where it is fixed."""
    failure: dict = {"kind": error.kind, "provider": provider_name, "guest": guest}
    if key is not None:
        failure.update(key_id=str(key.key_id), key_hint=key.key_hint)
    return {"failure": failure}


def prepare_generation(
    stream_id: uuid.UUID, client: ClientInfo, *, generation: Generation | None = None, defer_key_audit: bool = False
) -> Prepared:
    """The prompt and provider for a reply; `generation`, when the caller has just saved it, spares queries.
    `defer_key_audit`: the caller records the use of the user's key (`hand_off`) once the reply has started."""
    if generation is not None:
        conversation, reply = generation.stream.conversation, generation.assistant_message
    else:
        stream = Stream.objects.select_related("conversation__user", "message").get(id=stream_id)
        conversation, reply = stream.conversation, stream.message
    question = generation.user_message if generation is not None else None
    if question is not None and question.parent_id is None:
        history = [question]  # a conversation's first message: nothing before it to read
    else:
        history = message_path(leaf_id=reply.parent_id) if reply.parent_id else []
    # The reply's own model: side-by-side answers (conversations/compare.py) are each on another one than the
    # conversation's, with its own context window.
    provider_name, model = reply.provider or conversation.provider, reply.model or conversation.model
    context_window = conversation.context_window_size
    if (provider_name, model) != (conversation.provider, conversation.model):
        from catalog.selectors import context_window_for

        context_window = context_window_for(provider=provider_name, model=model)
    attached = prompt_attachments(history=history, provider=provider_name, model=model)
    fitted = fit_history(
        history=history, system=conversation.system_prompt, context_window=context_window, attachments=attached
    )
    quotes, attachment_notice = question_attachments(attached=attached, history=history)
    plan = plan_context(
        conversation=conversation, history=history, fitted=fitted, context_window=context_window,
        provider_name=provider_name, attachments=attached,
    )  # fmt: skip
    fitted = plan.fitted  # the branch's summary and the turns after it, when it has one
    if fitted.left_out and not plan.summarise:  # a due summary records the truncation only if it fails
        context_optimization_record(
            conversation=conversation,
            tokens_before=fitted.tokens_before,
            tokens_after=fitted.tokens_after,
            left_out=fitted.left_out,
        )
    provider, provider_name, error, key = resolve_provider(
        conversation=conversation, client=client, name=provider_name, defer_audit=defer_key_audit
    )
    sources, searched, documents_on = _sources_for(conversation, history) if error is None else ([], False, False)
    request = ChatRequest(
        model=model,
        messages=fitted.messages,
        # A chat in a project follows the project's instructions too, delimited like the sources (prompting.py).
        system=system_with_sources(system_with_project(plan.system, _project_of(conversation)), sources),
        sources=tuple(sources),
        documents_searched=searched,
        reasoning_effort=reply.reasoning_effort,  # set only for a model that can reason (conversations/reasoning.py)
        attachment_texts=quotes,
    )
    metadata = {"sources": [source.as_metadata() for source in sources]} if sources else {}
    metadata.update(attachment_notice)  # the bubble says which files went as text (conversations/attachments.py)
    prepared = Prepared(
        provider=provider,
        request=request,
        provider_name=provider_name,
        model=model,
        error=error,
        metadata=metadata,
        only_child=question is not None,
        key=key,
        guest=conversation.user.is_guest,
        # One title per conversation: of side-by-side answers, the one on screen (the first) names it.
        first_question=question.content
        if question is not None and question.parent_id is None and conversation.active_leaf_id == reply.id
        else "",
        conversation_id=conversation.id,
        user_id=conversation.user_id,
        context_plan=plan if plan.summarise and error is None else None,
    )
    if question is None and conversation.active_leaf_id == reply.id:
        prepared.first_question = first_question_retried(reply)
    if error is None and provider_name != ChatProvider.OFFLINE:
        # Read once: for the model's capabilities now and its prices when the reply is logged.
        prepared.catalogue_entry = catalogue_entry(provider=provider_name, model=model)
    if error is None and offers_tools(provider_name=provider_name, guest=prepared.guest):
        prepared.model_calls_tools = model_calls_tools(entry=prepared.catalogue_entry)
        if prepared.model_calls_tools:
            prepared.loop_state = state_for(conversation=conversation, message=reply, reads_documents=documents_on)
    return prepared


def first_question_retried(reply: Message) -> str:
    """The conversation's first question when `reply` answers it again (Retry, Regenerate) and no earlier answer to
    it finished: a conversation whose first reply failed or was stopped is named after the retried one succeeds."""
    parent = reply.parent if reply.parent_id else None
    if parent is None or parent.parent_id is not None or parent.role != Message.Role.USER:
        return ""
    earlier = Message.objects.filter(parent_id=parent.id, status=Message.Status.COMPLETE).exclude(id=reply.id)
    return "" if earlier.exists() else parent.content


def _project_of(conversation):
    """The conversation's project (one query, only for a chat in one), for its instructions."""
    return conversation.project if conversation.project_id else None


def _sources_for(conversation, history: list[Message]) -> tuple[list, bool, bool]:
    """Passages of the user's readable documents for the question being answered, whether they were searched, and
    whether the reply may read the user's documents at all (retrieval on for the conversation and in the user's
    settings: the document tools follow it too)."""
    from documents.retrieval import RetrievalOptions, retrieve

    if not conversation.retrieval_enabled:
        return [], False, False
    options = RetrievalOptions.for_conversation(conversation)  # its project's documents first, when in one
    question = next((m.content for m in reversed(history) if m.role == Message.Role.USER), "")
    if not options.enabled or not question:
        return [], False, options.enabled
    try:
        return retrieve(user=conversation.user, query=question, options=options), True, True
    except Exception:
        # Retrieval trouble must not cost the user their answer: reply without sources, and log it.
        logger.exception("retrieval failed for conversation %s", conversation.id)
        return [], False, True


def render_reply(message: Message, *, only_child: bool = False) -> str:
    """The finished reply bubble, as the page would render it (with its branch arrows)."""
    from conversations.selectors import ThreadItem

    siblings = (
        [message.id]
        if only_child
        else list(
            Message.objects.filter(conversation_id=message.conversation_id, parent_id=message.parent_id)
            .order_by("created_at", "id")
            .values_list("id", flat=True)
        )
    )
    return render_to_string(
        "conversations/partials/message.html",
        # A side-by-side answer finishes in its column, with the actions of one (conversations/compare.py).
        {
            "item": ThreadItem(message=message, siblings=siblings),
            "compare_column": compare_column(message),
            "csrf_token": NO_CSRF_TOKEN,  # no request: htmx sends the token in a header
        },
    )


def sidebar_preview_html(conversation_id: uuid.UUID) -> str:
    """The chat's new preview, to go with a finished reply's bubble in its done event (sidebar_preview.html): the
    sidebar showed the one it was drawn with (after an edit, the old branch's reply) until the next page. Never in
    the way of the done event: without it, the preview shows at the next page load."""
    from conversations.sidebar import conversation_preview

    try:
        preview = conversation_preview(conversation_id=conversation_id)
    except Exception:
        logger.exception("reading the sidebar preview of conversation %s failed", conversation_id)
        return ""
    if preview is None:  # not wanted, or not listed
        return ""
    return render_to_string(
        "conversations/partials/sidebar_preview.html", {"conversation_id": conversation_id, "preview": preview}
    )


def render_finished(message: Message, *, only_child: bool = False) -> str:
    """The done event's fragment: the finished bubble (render_reply), and its chat's new sidebar preview."""
    return render_reply(message, only_child=only_child) + sidebar_preview_html(message.conversation_id)


def finish_and_render(stream_id: uuid.UUID, outcome: GenerationOutcome, only_child: bool = False) -> tuple[str, str]:
    message = generation_finish(stream_id=stream_id, outcome=outcome)
    if message is None:  # already finished elsewhere (the sweep, after which a Retry may have added a sibling)
        stream = Stream.objects.select_related("message").filter(id=stream_id).first()
        if stream is None:  # its conversation was deleted meanwhile (in another tab): nothing left to save
            return Message.Status.CANCELLED, DELETED_REPLY_HTML
        message = stream.message
        only_child = False
    return message.status, render_finished(message, only_child=only_child)


def finish_reply(stream_id: uuid.UUID, outcome: GenerationOutcome, prepared: Prepared | None) -> tuple[str, str]:
    """The reply saved and rendered, with the thread's marker when a summary was made for it: one worker-thread
    trip for both (on a busy server each trip waits its turn for the GIL)."""
    only_child = prepared.only_child if prepared else False
    final_status, html_fragment = finish_safely(stream_id, outcome, only_child)
    return final_status, html_fragment + marker_out_of_band(prepared)


DELETED_REPLY_HTML = '<p class="message-error" role="alert">This conversation was deleted.</p>'
UNSAVED_REPLY_HTML = (
    '<p class="message-error" role="alert">This reply could not be saved. Reload the page in a minute to see '
    "what was kept.</p>"
)


def finish_safely(stream_id: uuid.UUID, outcome: GenerationOutcome, only_child: bool = False) -> tuple[str, str]:
    """`finish_and_render`, and when that fails, the reply saved as failed with its text; never raises.

    A reply that is never finished keeps its stream active, which refuses every later message of the
    conversation until the sweep: so a failure here must still end the stream, one way or another.
    """
    try:
        return finish_and_render(stream_id, outcome, only_child)
    except Exception:
        logger.exception("finishing generation %s failed; saving it as failed", stream_id)
    try:
        fallback = GenerationOutcome(
            text=outcome.text,
            thinking=outcome.thinking,
            status=Message.Status.FAILED,
            error="Something went wrong while saving this reply. Retry to generate it again.",
            provider=outcome.provider,
            model=outcome.model,
        )
        return finish_and_render(stream_id, fallback)
    except Exception:
        # The database itself is unreachable: the listeners are told, and the sweep saves the text from Redis
        # once the database is back (the stream's alive mark goes with the done entry).
        logger.exception("saving generation %s as failed failed too", stream_id)
        return Message.Status.FAILED, UNSAVED_REPLY_HTML


async def run_generation(stream_id: uuid.UUID, client: ClientInfo, prepared: Prepared | None = None) -> None:
    started = time.monotonic()
    state: dict = {"parts": [], "thinking": [], "first_token": None, "finished": None, "stopped": False}
    error = ""
    status = Message.Status.FAILED
    consumer: asyncio.Task | None = None
    failure: dict = {}
    key_failure: tuple[KeyUse, str] | None = None

    def on_stop() -> None:
        # From the Stop button (this process) or the outbox's check of the Stop flag (any process).
        state["stopped"] = True
        if consumer is not None:
            consumer.cancel()

    publisher = streams.Publisher(stream_id, on_stop=on_stop)

    async def consume() -> None:
        assert prepared is not None and prepared.provider is not None and prepared.request is not None
        # Runs after this task's first step, which ends when the provider's request waits for its answer.
        asyncio.get_running_loop().call_soon(prepared.handed_off.set)
        # The provider's events, with the tool rounds the model asks for run in between (chatbot/tools/loop.py).
        events = reply_events(prepared, stream_id=stream_id, publisher=publisher, parts=state["parts"])
        async with contextlib.aclosing(events) as events:
            async for event in events:
                text = strip_unsafe(event.text) if isinstance(event, TextDelta) else ""
                if text:
                    if state["first_token"] is None:
                        state["first_token"] = time.monotonic()
                    state["parts"].append(text)
                    await publisher.add(text)
                elif isinstance(event, ThinkingDelta):
                    # Apart from the answer: its own SSE event and the reply's parts, never the next prompt.
                    thinking = strip_unsafe(event.text)
                    if thinking:
                        state["first_token"] = state["first_token"] or time.monotonic()
                        state["thinking"].append(thinking)
                        await publisher.add_thinking(thinking)
                elif isinstance(event, Finished):
                    state["finished"] = event

    try:
        if prepared is None:
            prepared = await in_thread(prepare_generation, stream_id, client)
        if prepared.error is not None:
            raise prepared.error
        if prepared.context_plan is not None and not state["stopped"]:
            await summarise_before_reply(prepared)
        if not state["stopped"]:  # stopped while the prompt was being prepared
            consumer = asyncio.create_task(consume())
        try:
            if consumer is None:
                raise asyncio.CancelledError
            await consumer
            status = Message.Status.COMPLETE
        except asyncio.CancelledError:
            if not state["stopped"]:
                raise
            status = Message.Status.CANCELLED
        except AwaitingApproval:
            state["waiting"] = True
    except ProviderError as exc:
        logger.warning("generation %s failed: %s", stream_id, exc)
        error = exc.user_message
        if prepared is not None:
            failure = failure_metadata(
                error=exc, provider_name=prepared.provider_name, key=prepared.key, guest=prepared.guest
            )
            if prepared.key is not None and exc.kind != ProviderError.NO_KEY:
                key_failure = (prepared.key, str(exc))
    except asyncio.CancelledError:
        error = "The reply was interrupted because the server is shutting down."
        raise
    except Exception:
        logger.exception("generation %s crashed", stream_id)
        error = "Something went wrong while generating this reply."
    finally:
        if prepared is not None:
            prepared.handed_off.set()  # ended (or failed) before its provider request: nobody waits for it
        if state.get("waiting"):
            # A tool call waits for the user: the stream stays open and its state is in the database; whoever
            # answers resumes the reply (chatbot/tools/waiting.py). Nothing is in flight here (it was handled).
            await publisher.park()
            return  # noqa: B012
        finished: Finished | None = state["finished"]
        first = state["first_token"]
        estimated = None
        if finished is None and consumer is not None and (first is not None or status == Message.Status.CANCELLED):
            # The provider was asked, and read the prompt (and wrote some) before Stop or a failure cut it short.
            estimated = (
                request_tokens(prepared.request),
                estimate_tokens("".join(state["parts"])) + estimate_tokens("".join(state["thinking"])),
            )
        outcome = GenerationOutcome(
            text="".join(state["parts"]),
            thinking="".join(state["thinking"]),
            status=status,
            error=error,
            provider=prepared.provider_name if prepared else "",
            model=prepared.model if prepared else "",
            input_tokens=finished.input_tokens if finished else None,
            output_tokens=finished.output_tokens if finished else None,
            latency_ms=int((time.monotonic() - started) * 1000),
            time_to_first_token_ms=int((first - started) * 1000) if first else None,
            provider_metadata=finished.provider_metadata if finished else {},
            metadata={**(prepared.metadata if prepared else {}), **failure},
            key_failure=key_failure,
            own_key=prepared is not None and prepared.key is not None,
            estimated_tokens=estimated,
            catalogue_entry=prepared.catalogue_entry if prepared else NOT_READ,
        )
        await publisher.drain()  # what is still buffered goes out before the database write
        final_status, html_fragment = await in_thread(finish_reply, stream_id, outcome, prepared)
        metrics.reply_finished(
            provider=outcome.provider, status=final_status, time_to_first_token_ms=outcome.time_to_first_token_ms,
            error_kind=failure.get("failure", {}).get("kind", ""),
        )  # fmt: skip
        naming = final_status == Message.Status.COMPLETE and prepared is not None and will_name(prepared)
        if naming:
            # Marked pending before the page hears of the reply: the watcher in the done fragment asks until then.
            await title_pending_set(prepared.conversation_id, pending=True)
            html_fragment += render_to_string(
                "conversations/partials/title_watch.html", {"conversation_id": prepared.conversation_id}
            )
        await publisher.finish(status=final_status, html_fragment=html_fragment)
    # Only now, with the reply's done event out: the title never delays the reply.
    if naming:
        try:
            await name_conversation(prepared)
        finally:
            await title_pending_set(prepared.conversation_id, pending=False)


def start_generation(stream_id: uuid.UUID, client: ClientInfo, *, prepared: Prepared | None = None) -> asyncio.Task:
    """Run a generation on the current event loop, independent of the request that started it."""
    # A fresh context: the request's context holds asgiref's per-request thread executor, which quits when the
    # response is sent; the generation outlives it. Only the request id is carried over, for the logs.
    context = contextvars.Context()
    context.run(request_id_var.set, request_id_var.get())
    task = asyncio.get_running_loop().create_task(
        run_generation(stream_id, client, prepared), name=f"generation-{stream_id}", context=context
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


async def shutdown(*, timeout: float = 10.0) -> None:
    """The server is stopping: interrupt the replies still running (each saves its text, marked interrupted, and
    tells its listeners), then close this loop's connections to the provider and Redis."""
    from chatbot.llm.http import close_http_clients

    loop = asyncio.get_running_loop()
    generations = [task for task in _running if not task.done() and task.get_loop() is loop]
    for task in generations:
        task.cancel()
    if generations:
        await asyncio.wait(generations, timeout=timeout)
    await close_http_clients()
    await streams.close_clients()


# --- The sweep: generations whose process died ------------------------------------------------------------------


def sweep_stale_streams(*, older_than_seconds: int = 60) -> int:
    """Mark as failed, with their buffered text, active streams whose generation is no longer alive."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    cutoff = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    swept = 0
    stale = Stream.objects.filter(status=Stream.Status.ACTIVE, created_at__lt=cutoff).values_list("id", flat=True)
    for stream_id in list(stale):
        # Each stream on its own: one that cannot be finished must not stop the sweep of the others.
        try:
            swept += _sweep_stream(client, stream_id)
        except Exception:
            logger.exception("sweeping stream %s failed", stream_id)
    return swept


def _sweep_stream(client: redis.Redis, stream_id: uuid.UUID) -> int:
    if client.exists(streams.alive_key(stream_id)) or is_waiting(stream_id):  # alive, or waiting for an approval
        return 0
    entries = client.xrange(streams.stream_key(stream_id))
    outcome = GenerationOutcome(
        text=streams.delta_text(entries),
        thinking=streams.thinking_text(entries),
        status=Message.Status.FAILED,
        error="The reply was interrupted (the server stopped while writing it). Retry to generate it again.",
    )
    final_status, html_fragment = finish_safely(stream_id, outcome)
    client.xadd(streams.stream_key(stream_id), streams.done_payload(status=final_status, html_fragment=html_fragment))
    client.expire(streams.stream_key(stream_id), streams.STREAM_TTL_SECONDS)
    return 1
