"""Votes on assistant replies (seed 003's Vote, which also holds seed 000's 1-5 rating and comment and seed 002's
message feedback: one row per user and message), and the reads behind the admin's satisfaction figures.

A thumbs up or down is toggled: the same thumb again takes the vote back. A thumbs down may carry a rating and a
comment ("what went wrong"); turning it into a thumbs up drops them, as they described what was wrong.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.shortcuts import get_object_or_404

from accounts.models import User
from chatbot.text import clean_text
from conversations.models import Conversation, Message, Vote

MAX_COMMENT_LENGTH = 2_000
RATINGS = (1, 2, 3, 4, 5)


class VoteRefused(ValueError):
    """A vote the message cannot take (not a finished reply) or feedback out of range; the text says why."""


def votable_message(*, user: User, conversation_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    """One of the user's assistant replies; 404 for anyone else's, or for a message that is not a reply."""
    return get_object_or_404(
        Message.objects.defer("search_vector"),
        id=message_id,
        conversation_id=conversation_id,
        conversation__user=user,
        role=Message.Role.ASSISTANT,
    )


def _check_votable(message: Message) -> None:
    if message.role != Message.Role.ASSISTANT:
        raise VoteRefused("Only the assistant's replies can be voted on.")
    if message.status == Message.Status.STREAMING:
        raise VoteRefused("Wait for the reply to finish before voting on it.")


@transaction.atomic
def vote_toggle(*, user: User, message: Message, up: bool) -> Vote | None:
    """Thumbs up (`up`) or down on a reply; the same thumb again takes the vote back (returns None).

    One row per user and message: the row is locked (or created) first, so two quick clicks cannot both insert.
    """
    _check_votable(message)
    vote, created = Vote.objects.select_for_update().get_or_create(
        message=message, user=user, defaults={"conversation_id": message.conversation_id, "is_upvoted": up}
    )
    if created:
        return vote
    if vote.is_upvoted is up:
        vote.delete()
        return None
    vote.is_upvoted = up
    if up:  # the rating and comment said what was wrong with it
        vote.rating, vote.comment = None, ""
    vote.save(update_fields=["is_upvoted", "rating", "comment", "updated_at"])
    return vote


def clean_feedback(*, rating: str | int | None, comment: str | None) -> tuple[int | None, str]:
    """A rating (1-5, or none) and a comment from a form, checked; raises VoteRefused with the reason."""
    value: int | None
    if rating in (None, ""):
        value = None
    else:
        try:
            value = int(rating)
        except (TypeError, ValueError):
            value = 0
        if value not in RATINGS:
            raise VoteRefused("A rating is a number of stars from 1 to 5.")
    text = clean_text(comment or "").strip()
    if len(text) > MAX_COMMENT_LENGTH:
        raise VoteRefused(
            f"The comment is too long ({len(text):,} characters; the limit is {MAX_COMMENT_LENGTH:,}). Nothing was "
            "saved."
        )
    return value, text


@transaction.atomic
def vote_feedback(*, user: User, message: Message, rating: str | int | None, comment: str | None) -> Vote:
    """The rating and comment of a thumbs down (given without a vote, they make one: the form says what went
    wrong). Raises VoteRefused, saving nothing, for a rating outside 1-5 or an over-long comment."""
    _check_votable(message)
    value, text = clean_feedback(rating=rating, comment=comment)
    vote, _ = Vote.objects.select_for_update().get_or_create(
        message=message, user=user, defaults={"conversation_id": message.conversation_id, "is_upvoted": False}
    )
    vote.is_upvoted = False
    vote.rating, vote.comment = value, text
    vote.save(update_fields=["is_upvoted", "rating", "comment", "updated_at"])
    return vote


def user_vote(*, user: User, message: Message) -> Vote | None:
    return Vote.objects.filter(message=message, user=user).first()


def conversation_votes_by_message(*, conversation: Conversation) -> dict[uuid.UUID, Vote]:
    """The owner's votes in a conversation by message id, for drawing its thread (one query, whatever its size)."""
    return {
        vote.message_id: vote for vote in Vote.objects.filter(conversation=conversation, user_id=conversation.user_id)
    }


# --- The admin's figures -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Satisfaction:
    up: int
    down: int

    @property
    def total(self) -> int:
        return self.up + self.down

    @property
    def rate(self) -> float | None:
        """The share of thumbs up among thumbs, 0-1; None with no thumbs at all."""
        return self.up / self.total if self.total else None


def _since(days: int) -> dt.datetime:
    from catalog.selectors import period_start

    return period_start(days)  # as the usage dashboard counts its days


def _thumbs() -> dict:
    return {"up": Count("id", filter=Q(is_upvoted=True)), "down": Count("id", filter=Q(is_upvoted=False))}


def vote_totals(*, days: int) -> Satisfaction:
    row = Vote.objects.filter(created_at__gte=_since(days)).aggregate(**_thumbs())
    return Satisfaction(up=row["up"], down=row["down"])


def votes_by_model(*, days: int) -> list[dict]:
    """Per model that wrote the replies: thumbs up, down, the satisfaction rate and the average rating."""
    rows = (
        Vote.objects.filter(created_at__gte=_since(days))
        .values("message__provider", "message__model")
        .annotate(**_thumbs(), average_rating=Avg("rating"))
        .order_by("message__provider", "message__model")
    )
    return [
        {
            "provider": row["message__provider"],
            "model": row["message__model"] or "(unknown)",
            "satisfaction": Satisfaction(up=row["up"], down=row["down"]),
            "average_rating": row["average_rating"],
        }
        for row in rows
    ]


def votes_by_day(*, days: int) -> list[dict]:
    """Per day (server time zone), newest first: thumbs up and down."""
    rows = (
        Vote.objects.filter(created_at__gte=_since(days))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(**_thumbs())
        .order_by("-day")
    )
    return [{"day": row["day"], "satisfaction": Satisfaction(up=row["up"], down=row["down"])} for row in rows]


def worst_rated_replies(*, days: int, limit: int = 20) -> QuerySet[Vote]:
    """Thumbs down, the lowest rating first (unrated after rated), newest first among equals."""
    return (
        Vote.objects.filter(created_at__gte=_since(days), is_upvoted=False)
        .select_related("message", "conversation", "user")
        .defer("message__search_vector")
        .order_by("rating", "-created_at")[:limit]
    )
