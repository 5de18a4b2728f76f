"""Thumbs up / down on a reply, and a thumbs down's rating and comment: htmx swaps the vote controls in place;
without JavaScript the forms post and come back to the reply on the conversation's page."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from conversations import votes


def _controls(request: HttpRequest, message, *, asking: bool = False) -> HttpResponse:
    vote = votes.user_vote(user=request.user, message=message)
    context = {"message": message, "vote": vote, "asking": asking}
    return render(request, "conversations/partials/message_vote.html", context)


def _refused(request: HttpRequest, message, error: str) -> HttpResponse:
    """The reason, by the form that was sent (app.js puts a refusal's fragment in the form's error slot)."""
    if request.htmx:
        return render(request, "conversations/partials/composer_error.html", {"error": error}, status=400)
    messages.error(request, error)
    return _back_to_reply(message)


def _back_to_reply(message) -> HttpResponse:
    return redirect(reverse("conversations:detail", args=[message.conversation_id]) + f"#message-{message.id}")


@login_required
@require_POST
def message_vote(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    message = votes.votable_message(user=request.user, conversation_id=conversation_id, message_id=message_id)
    choice = request.POST.get("vote")
    if choice not in ("up", "down"):
        return _refused(request, message, "Choose a thumbs up or a thumbs down.")
    try:
        vote = votes.vote_toggle(user=request.user, message=message, up=choice == "up")
    except votes.VoteRefused as exc:
        return _refused(request, message, str(exc))
    if not request.htmx:
        return _back_to_reply(message)
    # A fresh thumbs down asks what went wrong (optional), as ChatGPT's does.
    return _controls(request, message, asking=vote is not None and vote.is_upvoted is False and not vote.comment)


@login_required
@require_POST
def message_vote_feedback(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    message = votes.votable_message(user=request.user, conversation_id=conversation_id, message_id=message_id)
    try:
        votes.vote_feedback(
            user=request.user, message=message, rating=request.POST.get("rating"), comment=request.POST.get("comment")
        )
    except votes.VoteRefused as exc:
        return _refused(request, message, str(exc))
    if not request.htmx:
        messages.success(request, "Thank you for your feedback.")
        return _back_to_reply(message)
    return _controls(request, message)
