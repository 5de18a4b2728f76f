"""Writes for conversations: sending, regenerating and editing (branches), finishing a generation."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import partial

from django.db import transaction
from django.utils import timezone

from accounts.models import ProviderKey, User
from accounts.selectors import default_chat_model, resolve_model_choice
from accounts.services import KeyUse, key_use_failed, message_quota_consume, preferences_get
from catalog.models import ChatModel
from catalog.selectors import NOT_READ, NotRead, reply_cost
from chatbot.errors import UserFacingError
from chatbot.markdown import plain_text
from chatbot.text import clean_json, clean_text, has_visible_text
from conversations.models import ContextOptimization, Conversation, Message, Stream, UsageLog
from conversations.reasoning import effort_for, reply_parts

MAX_MESSAGE_LENGTH = 20_000


class QuotaExceeded(UserFacingError):
    pass


class BudgetExceeded(QuotaExceeded):
    """The user's monthly budget for models the operator pays for is spent."""


class ModelNotOffered(ValueError):
    pass


MODEL_NOT_OFFERED = "That model is not available to you: pick another one in the model menu."


@dataclass(frozen=True)
class Generation:
    """What the browser needs to show a reply being generated."""

    user_message: Message | None
    assistant_message: Message
    stream: Stream


def conversation_create(
    *, user: User, title: str = "", project_id: uuid.UUID | None = None, model: str = ""
) -> Conversation:
    """A new conversation on `model` (a key from the model menu) when given, else on the user's default.

    Raises ModelNotOffered for a model the user cannot pick.
    """
    from catalog.selectors import context_window_for

    preferences = preferences_get(user=user)
    if model:
        choice = resolve_model_choice(user=user, value=model)
        if choice is None:
            raise ModelNotOffered(MODEL_NOT_OFFERED)
    else:
        choice = default_chat_model(
            user=user, preferred=preferences.default_model, hidden=list(preferences.hidden_models or [])
        )
    provider, model_id = choice
    return Conversation.objects.create(
        user=user,
        title=title[:500],
        project_id=project_id,
        provider=provider,
        model=model_id,
        context_window_size=context_window_for(provider=provider, model=model_id),
        system_prompt=preferences.default_system_prompt,
    )


def _switch_model(*, conversation: Conversation, value: str) -> bool:
    """Put the conversation on the model picked (a menu key, or a bare id); the next reply uses it, and the
    prompt is fitted to its context window. Returns whether anything changed; ModelNotOffered when not the
    user's to pick."""
    from catalog.selectors import context_window_for

    current = (conversation.provider, conversation.model)
    choice = resolve_model_choice(user=conversation.user, value=value, current=current)
    if choice is None:
        raise ModelNotOffered(MODEL_NOT_OFFERED)
    if choice == current:
        return False
    conversation.provider, conversation.model = choice
    conversation.context_window_size = context_window_for(provider=choice[0], model=choice[1])
    return True


MODEL_FIELDS = ("provider", "model", "context_window_size")


def conversation_set_model(*, conversation: Conversation, model: str) -> Conversation:
    """The model menu's choice, saved at once: Regenerate and Edit use it too, and a reload shows it."""
    if _switch_model(conversation=conversation, value=model):
        conversation.save(update_fields=[*MODEL_FIELDS])
    return conversation


def _consume_quota(user: User) -> None:
    quota = message_quota_consume(user=user)
    if not quota.allowed:
        raise QuotaExceeded(quota.message)


def _check_budget(*, user: User, conversation: Conversation) -> None:
    _check_budget_for(user=user, provider=conversation.provider, model=conversation.model)


def _check_budget_for(*, user: User, provider: str, model: str) -> None:
    """Refuse a reply on a model the operator pays for once the user's monthly budget is spent. Free models (the
    offline assistant, Ollama, a zero price) and the user's own keys are theirs to use whatever the budget. Per
    reply: side-by-side answers (conversations/compare.py) check each of their models."""
    if user.monthly_budget is None or provider == "offline":
        return
    from catalog.selectors import is_free_model, month_spend, next_month_start
    from catalog.templatetags.usage import format_usd

    if is_free_model(provider=provider, model=model):
        return
    if ProviderKey.objects.filter(user=user, provider=provider, is_active=True).exists():
        return
    spent = month_spend(user_id=user.id)
    if spent < user.monthly_budget:
        return
    renews = next_month_start()
    raise BudgetExceeded(
        f"You have used your monthly budget of {format_usd(user.monthly_budget)} for paid models "
        f"({format_usd(spent)} this month). It renews on {renews.day} {renews:%B} (UTC). The offline assistant still "
        "answers: choose it in the model menu."
    )


def _start_reply(*, conversation: Conversation, parent: Message, also_save: tuple[str, ...] = ()) -> Generation:
    """The assistant's message (streaming) under `parent`, its Stream, and the conversation's new active leaf.

    A parent not saved yet (the user's message being sent) goes in the same INSERT.
    """
    parent_is_new = parent._state.adding
    now = timezone.now()
    assistant = Message(
        conversation=conversation,
        parent=parent,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        provider=conversation.provider,
        model=conversation.model,
        # The question's effort, when this model can reason (a Retry after switching to one that cannot: none).
        reasoning_effort=effort_for(
            provider=conversation.provider, model=conversation.model, value=parent.reasoning_effort
        ),
        # A microsecond later than its parent, so ordering by time is ordering by the tree.
        created_at=max(now, parent.created_at) + dt.timedelta(microseconds=1),
    )
    Message.objects.bulk_create([parent, assistant] if parent_is_new else [assistant])
    stream = Stream.objects.create(conversation=conversation, message=assistant)
    conversation.active_leaf = assistant
    conversation.updated_at = now
    conversation.save(update_fields=["active_leaf", "updated_at", *also_save])
    return Generation(user_message=parent if parent_is_new else None, assistant_message=assistant, stream=stream)


class ReplyInProgress(ValueError):
    """A reply is being written in the conversation: another must wait for it (or stop it)."""

    def __init__(self, message: str, *, conversation_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.conversation_id = conversation_id


# Every message, edit, retry and side-by-side answer locks its conversation first: a fixed statement, as Django spent
# 0.8 ms of CPU building and compiling this one each time, twice what running it costs (1.7 ms against 0.5 ms in
# all, at load 3.7). Conversation.DoesNotExist for another user's conversation, as .get() raised.
_CONVERSATION_LOCK_SQL = """
    SELECT c.*, EXISTS (SELECT 1 FROM streams s WHERE s.conversation_id = c.id AND s.status = %s) AS streaming
    FROM conversations c
    WHERE c.id = %s AND c.user_id = %s
    FOR UPDATE OF c
"""


def _conversation_lock(*, user: User, conversation_id: uuid.UUID) -> Conversation:
    """The user's conversation, locked until the transaction ends; refused while a reply is streaming in it."""
    found = list(Conversation.objects.raw(_CONVERSATION_LOCK_SQL, [Stream.Status.ACTIVE, conversation_id, user.pk]))
    if not found:
        raise Conversation.DoesNotExist("No conversation of this user has that id.")
    conversation = found[0]
    if conversation.streaming:
        raise ReplyInProgress(
            "Wait for the current reply to finish, or stop it first.", conversation_id=conversation.id
        )
    conversation.user = user  # the filter proved it; spares a query for whoever reads it next
    return conversation


def _clean_content(content: str, *, allow_empty: bool = False) -> str:
    content = clean_text(content or "").strip()
    if not has_visible_text(content):  # empty, or only zero-width and other invisible characters
        if allow_empty:  # a message of attached files only: the files are the question
            return ""
        raise ValueError("Write a message first.")
    if len(content) > MAX_MESSAGE_LENGTH:
        raise ValueError(
            f"That message is too long ({len(content):,} characters; the limit is {MAX_MESSAGE_LENGTH:,})."
        )
    return content


# No savepoint when the caller's transaction wraps this one (a new conversation and its first message): a refusal
# rolls back both anyway, and the send path saves two round trips.
@transaction.atomic(savepoint=False)
def message_send(
    *,
    user: User,
    conversation_id: uuid.UUID,
    content: str,
    model: str = "",
    reasoning_effort: str = "",
    allow_empty: bool = False,
) -> Generation:
    """Save the user's message under the branch on screen and start the assistant's reply, on `model` (the model
    menu's choice) when given, asked for `reasoning_effort` when that model can reason. `allow_empty`: the caller
    attaches files to it (conversations.attachments.attachments_claim, in the same transaction).

    Raises Conversation.DoesNotExist for a conversation that is not the user's.
    """
    content = _clean_content(content, allow_empty=allow_empty)
    conversation = _conversation_lock(user=user, conversation_id=conversation_id)
    also_save: tuple[str, ...] = ()
    if model and _switch_model(conversation=conversation, value=model):
        also_save = MODEL_FIELDS
    _check_budget(user=user, conversation=conversation)
    _consume_quota(user)
    user_message = Message(
        conversation=conversation, parent_id=conversation.active_leaf_id, author=user, role=Message.Role.USER,
        content=content,
        reasoning_effort=effort_for(provider=conversation.provider, model=conversation.model, value=reasoning_effort),
    )  # fmt: skip
    if not conversation.title:
        conversation.title = title_from_words(content)
        also_save = (*also_save, "title")
    return _start_reply(conversation=conversation, parent=user_message, also_save=also_save)


@transaction.atomic
def message_regenerate(*, user: User, message: Message) -> Generation:
    """A new reply to the same user message, as a sibling of the old one (which is kept)."""
    if message.role != Message.Role.ASSISTANT or message.parent_id is None:
        raise ValueError("Only an assistant reply can be regenerated.")
    conversation = _conversation_lock(user=user, conversation_id=message.conversation_id)
    _check_budget(user=user, conversation=conversation)
    _consume_quota(user)
    return _start_reply(conversation=conversation, parent=message.parent)


@transaction.atomic
def message_edit(
    *, user: User, message: Message, content: str, keep_attachments: list[str] | None = None
) -> Generation:
    """The edited text as a new user message beside the original (a new branch), and a reply to it.

    The original's attached files go with it (`keep_attachments`: only those, when the edit form listed them); a
    message keeping files needs no text."""
    from conversations.attachments import attachments_carry

    carried = message.attachments.all() if keep_attachments is None else message.attachments.filter(
        id__in=[value for value in keep_attachments if _is_uuid(value)]
    )  # fmt: skip
    content = _clean_content(content, allow_empty=carried.exists())
    if message.role != Message.Role.USER:
        raise ValueError("Only your own messages can be edited.")
    conversation = _conversation_lock(user=user, conversation_id=message.conversation_id)
    _check_budget(user=user, conversation=conversation)
    _consume_quota(user)
    edited = Message(
        conversation=conversation, parent_id=message.parent_id, author=user, role=Message.Role.USER, content=content,
        reasoning_effort=message.reasoning_effort,  # asked as the original was (the reply checks the model)
    )  # fmt: skip
    generation = _start_reply(conversation=conversation, parent=edited)
    attachments_carry(source=message, target=edited, keep=keep_attachments)
    return generation


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def branch_switch(*, user: User, message: Message) -> Conversation:
    """Show the branch through `message`: follow its newest descendants down to a leaf."""
    conversation = Conversation.objects.get(id=message.conversation_id, user=user)
    children: dict[uuid.UUID | None, list[tuple]] = {}
    for row in Message.objects.filter(conversation=conversation).values_list("id", "parent_id", "created_at"):
        children.setdefault(row[1], []).append(row)
    leaf = message.id
    while children.get(leaf):
        leaf = max(children[leaf], key=lambda row: (row[2], row[0]))[0]
    conversation.active_leaf_id = leaf
    conversation.save(update_fields=["active_leaf"])
    return conversation


def conversation_update_settings(
    *, conversation: Conversation, system_prompt: str, retrieval_enabled: bool, model: str = ""
) -> Conversation:
    """Instructions and retrieval; the model too when one is given (the menu in the composer is where it is
    usually changed). Raises ModelNotOffered, saving nothing, for a model the user cannot pick."""
    if model:
        _switch_model(conversation=conversation, value=model)
    conversation.system_prompt = system_prompt
    conversation.retrieval_enabled = retrieval_enabled
    conversation.save(update_fields=[*MODEL_FIELDS, "system_prompt", "retrieval_enabled", "updated_at"])
    return conversation


# --- Finishing a generation: the one database write of a reply -------------------------------------------------


@dataclass(frozen=True)
class GenerationOutcome:
    text: str
    status: str  # a Message.Status
    error: str = ""
    provider: str = ""
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: int | None = None
    time_to_first_token_ms: int | None = None
    provider_metadata: dict | None = None
    metadata: dict | None = None
    # A user's key that the provider refused: (the audit row of that use, what the provider said).
    key_failure: tuple[KeyUse, str] | None = None
    own_key: bool = False  # the user's own key paid for the call, not the operator's
    thinking: str = ""  # the model's reasoning, saved in the reply's parts (conversations/reasoning.py)
    # A reply cut short (Stop, a failure mid-stream) never hears the provider's counts, though the provider bills
    # what it read and wrote: (input, output) estimated, for the usage log and the budget.
    estimated_tokens: tuple[int, int] | None = None
    # The reply's model's catalogue row as its prompt was made (None: it has none), to price it by; read at the
    # finish when not given.
    catalogue_entry: ChatModel | NotRead | None = NOT_READ


STREAM_STATUS = {
    Message.Status.COMPLETE: Stream.Status.COMPLETE,
    Message.Status.CANCELLED: Stream.Status.CANCELLED,
    Message.Status.FAILED: Stream.Status.FAILED,
}


FINISHED_MESSAGE_FIELDS = [
    "content", "status", "error", "provider", "model", "input_tokens", "output_tokens", "latency_ms",
    "time_to_first_token_ms", "provider_metadata", "metadata", "updated_at",
]  # fmt: skip


# Every reply is finished here: the reply, locked through its stream, read by one fixed statement (Django spent 1.3 ms
# of CPU building the same query with its joins each time, at load 3.7).
_FINISH_LOCK_SQL = """
    SELECT m.*, s.status AS stream_status, c.user_id AS owner_id
    FROM streams s
    JOIN messages m ON m.id = s.message_id
    JOIN conversations c ON c.id = s.conversation_id
    WHERE s.id = %s
    FOR UPDATE OF s
"""


@transaction.atomic
def generation_finish(*, stream_id: uuid.UUID, outcome: GenerationOutcome) -> Message | None:
    """Write the reply once, whatever happened: complete, stopped or failed, with the text that arrived.

    Idempotent: a stream already finished (by its task, or by the sweep) is left as it is.
    """
    found = list(Message.objects.raw(_FINISH_LOCK_SQL, [stream_id]))
    if not found or found[0].stream_status != Stream.Status.ACTIVE:
        return None
    message = found[0]
    # Model output is outside text: cleaned here, at the one write of a reply, so no content can make it fail
    # (a NUL would, and then the stream would stay active and refuse the conversation's next messages).
    message.content = clean_text(outcome.text)
    message.status = outcome.status
    message.error = clean_text(outcome.error)
    message.provider = outcome.provider or message.provider
    message.model = outcome.model or message.model
    message.input_tokens = outcome.input_tokens
    message.output_tokens = outcome.output_tokens
    message.latency_ms = outcome.latency_ms
    message.time_to_first_token_ms = outcome.time_to_first_token_ms
    message.provider_metadata = clean_json(outcome.provider_metadata or {})
    message.metadata = {**message.metadata, **clean_json(outcome.metadata or {})}
    fields = FINISHED_MESSAGE_FIELDS
    if outcome.thinking:
        message.parts = reply_parts(thinking=clean_text(outcome.thinking), text=message.content)
        fields = [*fields, "parts"]
    message.save(update_fields=fields)
    if outcome.key_failure is not None:
        key, error = outcome.key_failure
        key_use_failed(key=key, error=clean_text(error))
    Stream.objects.filter(id=stream_id).update(status=STREAM_STATUS[outcome.status], finished_at=timezone.now())
    counted = outcome.input_tokens is not None or outcome.output_tokens is not None
    if counted or outcome.estimated_tokens is not None:
        input_tokens, output_tokens = (
            (outcome.input_tokens or 0, outcome.output_tokens or 0) if counted else outcome.estimated_tokens
        )
        usage_log_write(
            user_id=message.owner_id,
            conversation_id=message.conversation_id,
            message=message,
            provider=message.provider or "offline",
            model=message.model or "offline",
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            own_key=outcome.own_key,
            catalogue_entry=outcome.catalogue_entry,
        )
    return message


def usage_log_write(
    *,
    user_id: uuid.UUID,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    own_key: bool,
    conversation_id: uuid.UUID | None = None,
    message: Message | None = None,
    catalogue_entry: ChatModel | NotRead | None = NOT_READ,
) -> UsageLog:
    """One call's tokens and cost, priced by the model catalogue now (a later price change does not rewrite
    history), or by `catalogue_entry` as read when the call was prepared. For every call that has usage: replies,
    and any title or summary call."""
    return UsageLog.objects.create(
        user_id=user_id,
        conversation_id=conversation_id,
        message=message,
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=reply_cost(
            provider=provider,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            entry=catalogue_entry,
        ),
        own_key=own_key,
    )


def context_optimization_record(
    *, conversation: Conversation, tokens_before: int, tokens_after: int, left_out: list[uuid.UUID]
) -> ContextOptimization:
    return ContextOptimization.objects.create(
        conversation=conversation,
        trigger_reason=ContextOptimization.Trigger.TOKEN_LIMIT,
        optimization_type=ContextOptimization.Kind.TRUNCATION,
        tokens_before=tokens_before,
        tokens_after=tokens_after,
        summary=f"Left out the {len(left_out)} oldest message(s) to fit the context window.",
        affected_messages=[str(message_id) for message_id in left_out],
    )


# --- Titles: named by a small model after the first reply (issue 14) ---------------------------------------------

TITLE_MAX_WORDS = 7


TITLE_WORDS_LENGTH = 80


TITLE_SOURCE_LENGTH = 400  # a question's start, read for its title's words: five times a title's length


def title_from_words(text: str) -> str:
    """The question's first words: the title a conversation gets at once, and keeps when no model names it (offline,
    a first reply stopped or failed). A longer question is cut after a whole word, with an ellipsis: cut at 80
    characters, the page's heading and the shared page's read "in detail pl". Read as the question shows, without
    its Markdown (a question opening with a code fence was titled "```python def ..."): of its start only, enough for
    a title, as a long pasted question would cost a parse of the whole."""
    text = clean_text(text)
    words = plain_text(text[:TITLE_SOURCE_LENGTH]) or " ".join(text.split())
    if len(words) <= TITLE_WORDS_LENGTH:
        return words
    cut = words[: TITLE_WORDS_LENGTH - 1]
    if words[TITLE_WORDS_LENGTH - 1] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]  # a word one character longer than the whole title is still cut
    return cut.rstrip(" ,;:.-") + "…"


def title_clean(text: str) -> str:
    """A model's answer made a title: its first line, without quotes, a "Title:" label or a final full stop, at
    most TITLE_MAX_WORDS words; "" when nothing usable is left (the words title stays)."""
    lines = [line.strip() for line in clean_text(text).splitlines() if has_visible_text(line)]
    if not lines:
        return ""
    line = lines[0].strip().strip("*#_ ")
    if line.lower().startswith("title:"):
        line = line[len("title:") :]
    line = line.strip("*#_ \"'“”‘’`").rstrip(".").strip("*_ \"'“”‘’`")
    return " ".join(line.split()[:TITLE_MAX_WORDS])[:80]


def conversation_title_generate(*, conversation_id: uuid.UUID, title: str) -> bool:
    """Save a generated title, unless the user renamed the conversation meanwhile (one UPDATE, so a rename that
    lands during the title call wins). Returns whether it was saved."""
    title = title_clean(title)
    if not title:
        return False
    return bool(Conversation.objects.filter(id=conversation_id, title_set_by_user=False).update(title=title))


# --- Pin and archive (issue 16) --------------------------------------------------------------------------------


@transaction.atomic
def conversations_delete(*, conversations) -> int:
    """Delete conversations (a queryset) with their messages, streams and files; how many. Replies still being
    written are told to stop once the deletion is committed: nobody can read them any more, and a paid model would
    go on writing (and costing) to the end."""
    from conversations import streams

    running = list(
        Stream.objects.filter(conversation__in=conversations, status=Stream.Status.ACTIVE).values_list("id", flat=True)
    )
    count = 0
    # One by one through the ORM: their messages, streams and files go with them as a single delete would.
    for conversation in conversations.select_for_update():
        conversation.delete()
        count += 1
    if running:
        transaction.on_commit(partial(streams.request_stops, running))
    return count


def conversation_set_pinned(*, conversation: Conversation, pinned: bool) -> Conversation:
    """Pin a chat above the others in the sidebar, or unpin it. Its place by activity (updated_at) is kept."""
    conversation.pinned = pinned
    conversation.save(update_fields=["pinned"])
    return conversation


def conversation_set_archived(*, conversation: Conversation, archived: bool) -> Conversation:
    """Archive a chat (out of the sidebar, onto the Archived page) or restore it; pinned or not, it keeps that for
    when it is restored (its header does not offer Unpin meanwhile: chat_pin.html). Archiving an archived chat keeps
    the time it was first archived."""
    if archived and conversation.archived_at is None:
        conversation.archived_at = timezone.now()
    elif not archived:
        conversation.archived_at = None
        # Restoring is using it: the daily cleanup archives chats untouched for CONVERSATION_ARCHIVE_DAYS, and would
        # archive a restored one again at once (chatbot/cleanup.py).
        conversation.updated_at = timezone.now()
    conversation.save(update_fields=["archived_at", "updated_at"])
    return conversation
