"""Side-by-side answers in the chat (conversations/compare.py): sending to two or three models, Retry in one column,
Continue with one answer. Every lookup is by owner: another user's conversation or message is a 404."""

from __future__ import annotations

import uuid
from functools import partial

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from conversations import compare, selectors, services, streams, views
from conversations.models import Conversation, Project


def compare_send(
    request: HttpRequest,
    conversation_id: uuid.UUID | None,
    *,
    models: list[str],
    content: str,
    attached: list[str],
    project: Project | None,
):
    """views._send's handler, once it has checked the message and looked up the project of a new chat, when the
    composer names models to compare with: (response, generations). The files go to every model."""

    @transaction.atomic  # a refused first message leaves no empty conversation behind
    def send() -> list[services.Generation]:
        target = conversation_id
        if target is None:
            target = services.conversation_create(
                user=request.user, model=models[0], project_id=project.id if project else None
            ).id
        return compare.compare_send(
            user=request.user,
            conversation_id=target,
            content=content,
            models=models,
            reasoning_effort=request.POST.get("reasoning_effort", ""),  # the Thinking menu, for models that reason
            attachment_ids=attached,
        )

    try:
        generations, error = views._attempt(request, send)
    except Conversation.DoesNotExist:
        raise Http404 from None  # another user's conversation looks exactly like a missing one
    if error:
        return error, None
    leave = views.redirect_after_send(
        request, conversation_id=conversation_id, target_id=generations[0].stream.conversation_id
    )
    return leave or partial(_new_turn_response, request, generations), generations


def _new_turn_response(request: HttpRequest, generations: list[services.Generation]) -> HttpResponse:
    """The question and its answers in columns, appended to the thread."""
    question = generations[0].user_message
    columns = [
        selectors.ThreadItem(message=generation.assistant_message, siblings=[generation.assistant_message.id])
        for generation in generations
    ]
    return render(
        request,
        "conversations/partials/messages.html",
        {
            "thread": [selectors.ThreadItem(message=question, siblings=[question.id]), columns[0]],
            "compare": compare.CompareTurn(question_id=question.id, columns=columns),
            "active_streams": {generation.assistant_message.id: generation.stream.id for generation in generations},
        },
    )


def _retry(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID):
    message = views._own_message(request, conversation_id, message_id)
    generation, error = views._attempt(request, lambda: compare.compare_retry(user=request.user, message=message))
    return (error, None) if error else (partial(_column_response, request, generation), generation)


def _column_response(request: HttpRequest, generation: services.Generation) -> HttpResponse:
    """The new reply, streaming in place of the one retried; the other columns are left as they are."""
    reply = generation.assistant_message
    return render(
        request,
        "conversations/partials/message.html",
        {
            "item": selectors.ThreadItem(message=reply, siblings=[reply.id]),
            "stream_id": generation.stream.id,
            "compare_column": True,
        },
    )


@require_POST
async def compare_retry(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    return await views._run(request, _retry, conversation_id, message_id)


@require_POST
async def compare_continue(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    """Continue with this answer: the thread comes back on its branch (the others behind the arrows); the answers
    still streaming beside it are stopped (they are kept, marked stopped, with what they had written)."""

    def choose() -> tuple[HttpResponse, list[uuid.UUID]]:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path()), []
        message = views._own_message(request, conversation_id, message_id)
        try:
            to_stop = compare.compare_continue(user=request.user, message=message)
        except ValueError as exc:
            return views._error_response(request, str(exc), 400), []
        if not request.htmx:
            return redirect("conversations:detail", conversation_id), to_stop
        return views._thread_response(request, conversation_id), to_stop

    response, to_stop = await sync_to_async(choose)()
    for stream_id in to_stop:
        await streams.request_stop(stream_id)
    return response
