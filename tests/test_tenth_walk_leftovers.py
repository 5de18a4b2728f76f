"""What the tenth walk saw and left, fixed (view and service tests; the browser ones are in
test_browser_tenth_walk_leftovers.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_an_archived_pinned_chat_keeps_its_pin_and_says_so_where_it_is_listed(user, user_client):
    chat = ConversationFactory(user=user, title="Holiday plans", pinned=True, archived_at=timezone.now())
    ConversationFactory(user=user, title="Recipes", archived_at=timezone.now())

    listed = user_client.get(reverse("conversations:archived")).content.decode()
    assert listed.count("it comes back to your pinned chats") == 1, "only the pinned one"
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    assert ">Unpin</button>" in page, "the form is there, for a Restore to swap back in"
    assert 'id="chat-pin-form"' in page and 'hx-swap="innerHTML" hidden' in page, "but hidden while archived"

    user_client.post(reverse("conversations:archive", args=[chat.id]), {"archived": "0"})
    chat.refresh_from_db()
    assert chat.pinned and chat.archived_at is None
