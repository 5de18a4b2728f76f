"""Side-by-side answers (issue 14; seed 002's Preferences.multi_model_enabled): one question, one reply from each of
two or three models, streaming at once; the user continues with the one they choose.

Each reply is a sibling branch under the question, with its own model and its own Stream, so nothing new is needed
to store, stream, bill or retry it: usage is logged per reply by generation_finish, and the branch arrows reach the
answers not chosen. What makes them a group is recorded on the question,
    question.metadata["compare"] = {"replies": [one reply id per model, in the order picked], "chosen": None | id}
and each reply carries metadata["compare"] = True. A Retry replaces its reply in the list (the failed one stays a
sibling). The group is shown as columns while it is open: the branch on screen ends in one of its replies, none was
chosen, and none has been continued (a reply has children once the conversation goes on from it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import model_key, offered_models, preferences_of, resolve_model_choice
from conversations.models import Conversation, Message, Stream

MAX_COMPARE_MODELS = 3  # the composer's model and up to two more

COMPARE_OFF = (
    "Side-by-side answers are off: turn them on in Settings → Preferences, or send with one model. "
    "Your text is kept here."
)
TOO_MANY = f"At most {MAX_COMPARE_MODELS} models can answer one question: pick fewer to compare with."


# --- Reads ---------------------------------------------------------------------------------------------------------


def multi_model_enabled(*, user: User) -> bool:
    """Whether the composer offers "Compare with…" (the preference; off for anyone without a row)."""
    if not user.is_authenticated:
        return False
    preferences = preferences_of(user)  # the page's one read, shared with its model menu and sidebar
    return preferences is not None and preferences.multi_model_enabled


def compare_column(message: Message) -> bool:
    """Whether a reply is one of side-by-side answers (drawn in its column, with "Continue with this answer")."""
    return message.role == Message.Role.ASSISTANT and bool((message.metadata or {}).get("compare"))


def _group(question: Message | None) -> dict:
    group = (question.metadata or {}).get("compare") if question is not None else None
    return group if isinstance(group, dict) and isinstance(group.get("replies"), list) else {}


@dataclass(frozen=True)
class CompareTurn:
    """The open group at the end of the branch on screen: its question and one thread item per column."""

    question_id: uuid.UUID
    columns: list  # of selectors.ThreadItem


def compare_turn(*, thread: list, messages: list[Message]) -> CompareTurn | None:
    """The side-by-side answers to show as columns, or None: the branch on screen ends in a reply of an open group.

    `thread` is selectors.conversation_thread's list, `messages` the conversation's messages it was built from.
    """
    from conversations.selectors import ThreadItem

    if len(thread) < 2 or thread[-1].message.role != Message.Role.ASSISTANT:
        return None
    question = thread[-2].message
    group = _group(question)
    replies = [str(reply_id) for reply_id in group.get("replies", [])]
    if not replies or group.get("chosen") or str(thread[-1].message.id) not in replies:
        return None
    by_id = {str(message.id): message for message in messages}
    if any(str(message.parent_id) in replies for message in messages if message.parent_id):
        return None  # the conversation went on from one of them: that one was chosen
    shown = [by_id[reply_id] for reply_id in replies if reply_id in by_id]
    columns = [ThreadItem(message=reply, siblings=[reply.id]) for reply in shown]
    return CompareTurn(question_id=question.id, columns=columns) if len(columns) > 1 else None


# --- Writes --------------------------------------------------------------------------------------------------------


def compare_choices(
    *, user: User, conversation: Conversation, primary: str, extras: list[str]
) -> list[tuple[str, str]]:
    """(provider, model) of each model to answer: the composer's model first (the conversation's when not given),
    then the ones to compare with. Raises ValueError (ModelNotOffered for a model that is not the user's to pick)
    with a sentence for the composer: the preference off, more than three, one not offered, one picked twice."""
    from conversations.services import MODEL_NOT_OFFERED, ModelNotOffered

    extras = [value.strip() for value in extras if value and value.strip()]
    if not multi_model_enabled(user=user):
        raise ValueError(COMPARE_OFF)
    if 1 + len(extras) > MAX_COMPARE_MODELS:
        raise ValueError(TOO_MANY)
    current = (conversation.provider, conversation.model)
    offered = offered_models(user=user)
    choices = []
    for value in [primary or model_key(*current), *extras]:
        choice = resolve_model_choice(user=user, value=value, current=current, offered=offered)
        if choice is None:
            raise ModelNotOffered(MODEL_NOT_OFFERED)
        if choice in choices:
            raise ValueError(f"{choice[1]} is picked twice: compare different models.")
        choices.append(choice)
    return choices


def _new_reply(*, conversation: Conversation, question: Message, choice: tuple[str, str], at: dt.datetime) -> Message:
    from conversations.reasoning import effort_for

    return Message(
        conversation=conversation,
        parent=question,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        provider=choice[0],
        model=choice[1],
        # The question's effort for each model that can reason; none for one that cannot.
        reasoning_effort=effort_for(provider=choice[0], model=choice[1], value=question.reasoning_effort),
        metadata={"compare": True},
        created_at=at,
    )


# No savepoint, as message_send: a refusal rolls back the new conversation of a first message too.
@transaction.atomic(savepoint=False)
def compare_send(
    *,
    user: User,
    conversation_id: uuid.UUID,
    content: str,
    models: list[str],
    reasoning_effort: str = "",
    attachment_ids: list[str] | None = None,
) -> list:
    """The user's message and one streaming reply per model (`models`: the composer's model, then up to two to
    compare with), each reply its own Stream, asked for `reasoning_effort` when its model can reason. The
    conversation moves to the composer's model; the first reply is the active leaf until the user continues with
    another. Quota and budget apply per reply. `attachment_ids`: the user's unsent uploads, attached to the question
    (each model is sent them as it can take them, conversations.attachments.prompt_attachments); with them, the
    question needs no text.

    Raises Conversation.DoesNotExist for a conversation that is not the user's; ValueError for a refusal.
    """
    from conversations import services
    from conversations.reasoning import effort_for

    content = services._clean_content(content, allow_empty=bool(attachment_ids))
    conversation = services._conversation_lock(user=user, conversation_id=conversation_id)
    choices = compare_choices(user=user, conversation=conversation, primary=models[0] if models else "",
                              extras=models[1:])  # fmt: skip
    also_save: tuple[str, ...] = ()
    if services._switch_model(conversation=conversation, value=model_key(*choices[0])):
        also_save = services.MODEL_FIELDS
    for provider, model in choices:
        services._check_budget_for(user=user, provider=provider, model=model)
    for _ in choices:
        services._consume_quota(user)
    # Kept on the question when any of the models can reason: each reply takes it as its model allows.
    efforts = {effort_for(provider=provider, model=model, value=reasoning_effort) for provider, model in choices}
    question = Message(
        conversation=conversation, parent_id=conversation.active_leaf_id, author=user, role=Message.Role.USER,
        content=content, reasoning_effort=max(efforts),
    )  # fmt: skip
    if not conversation.title:
        conversation.title = services.title_from_words(content)
        also_save = (*also_save, "title")
    # Microseconds apart, after the question: ordering by time is ordering by the tree, and the arrows follow the
    # order the models were picked in.
    replies = [
        _new_reply(conversation=conversation, question=question, choice=choice,
                   at=question.created_at + dt.timedelta(microseconds=place))
        for place, choice in enumerate(choices, start=1)
    ]  # fmt: skip
    question.metadata = {"compare": {"replies": [str(reply.id) for reply in replies], "chosen": None}}
    Message.objects.bulk_create([question, *replies])
    if attachment_ids:
        from conversations.attachments import attachments_claim

        attachments_claim(user=user, message=question, ids=attachment_ids)
    streams = Stream.objects.bulk_create([Stream(conversation=conversation, message=reply) for reply in replies])
    conversation.active_leaf = replies[0]
    conversation.updated_at = timezone.now()
    conversation.save(update_fields=["active_leaf", "updated_at", *also_save])
    return [
        services.Generation(user_message=question, assistant_message=reply, stream=stream)
        for reply, stream in zip(replies, streams, strict=True)
    ]


def _locked_group(*, user: User, message: Message) -> tuple[Conversation, Message, dict]:
    """The user's conversation and the question of `message`, locked; refused when `message` is not a reply of
    an open group."""
    conversation = Conversation.objects.select_for_update(of=("self",)).get(id=message.conversation_id, user=user)
    question = Message.objects.select_for_update().filter(id=message.parent_id, conversation=conversation).first()
    group = _group(question)
    if not compare_column(message) or str(message.id) not in group.get("replies", []):
        raise ValueError("That answer is no longer one of the answers side by side: reload the conversation.")
    message.refresh_from_db(fields=["status"])  # read under the lock: it may have finished since
    return conversation, question, group


@transaction.atomic
def compare_retry(*, user: User, message: Message):
    """A new reply from the same model in that answer's column (the old one stays a sibling): Retry per bubble,
    while the other answers go on streaming. Quota and budget apply to it."""
    from conversations import services

    conversation, question, group = _locked_group(user=user, message=message)
    replies = list(group["replies"])
    if group.get("chosen") or Message.objects.filter(parent_id__in=replies).exists():
        raise ValueError("You continued with another answer: regenerate that one instead.")
    active = Stream.objects.filter(conversation=conversation, status=Stream.Status.ACTIVE)
    if active.filter(message=message).exists():
        raise services.ReplyInProgress(
            "Wait for this answer to finish, or stop it first.", conversation_id=conversation.id
        )
    if active.exclude(message_id__in=replies).exists():
        raise services.ReplyInProgress(
            "Wait for the current reply to finish, or stop it first.", conversation_id=conversation.id
        )
    services._check_budget_for(user=user, provider=message.provider, model=message.model)
    services._consume_quota(user)
    reply = _new_reply(
        conversation=conversation, question=question, choice=(message.provider, message.model), at=timezone.now()
    )
    reply.save(force_insert=True)
    stream = Stream.objects.create(conversation=conversation, message=reply)
    replies[replies.index(str(message.id))] = str(reply.id)
    question.metadata = {**question.metadata, "compare": {**group, "replies": replies}}
    question.save(update_fields=["metadata"])
    if conversation.active_leaf_id == message.id:
        conversation.active_leaf = reply
        conversation.save(update_fields=["active_leaf"])
    return services.Generation(user_message=None, assistant_message=reply, stream=stream)


@transaction.atomic
def compare_continue(*, user: User, message: Message) -> list[uuid.UUID]:
    """Continue with this answer: its branch is the one on screen, and the next message follows it. The other
    answers stay siblings (the arrows reach them); those still streaming are to be stopped: their Streams'
    ids are returned. The conversation stays on the composer's model."""
    conversation, question, group = _locked_group(user=user, message=message)
    if message.status == Message.Status.STREAMING:
        raise ValueError("Wait for this answer to finish, or stop it, before continuing with it.")
    if message.status == Message.Status.FAILED:
        raise ValueError("This answer failed: retry it, or continue with another one.")
    question.metadata = {**question.metadata, "compare": {**group, "chosen": str(message.id)}}
    question.save(update_fields=["metadata"])
    conversation.active_leaf = message
    conversation.save(update_fields=["active_leaf"])
    others = [reply_id for reply_id in group["replies"] if reply_id != str(message.id)]
    return list(Stream.objects.filter(message_id__in=others, status=Stream.Status.ACTIVE).values_list("id", flat=True))
