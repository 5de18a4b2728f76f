"""A conversation's title, written by the provider's small model after the first reply, in the background.

The reply's done event goes out first (conversations/generation.py); the page's title watcher asks until the
pending mark is gone (`title_pending_key`, read by the title view).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from django.core.cache import cache

from chatbot.db import in_thread
from chatbot.llm.base import ChatRequest, PromptMessage
from chatbot.llm.catalog import TITLE_MODELS
from chatbot.llm.providers import Completion, complete
from conversations import streams
from conversations.services import conversation_title_generate, usage_log_write

if TYPE_CHECKING:
    from conversations.generation import Prepared

logger = logging.getLogger(__name__)

TITLE_TIMEOUT_SECONDS = 20
TITLE_INSTRUCTIONS = (
    "Write a title of 3 to 7 words for a conversation that starts with the user's message below. Use the "
    "language of the message. Reply with the title alone: no quotes, no full stop, no label."
)


def title_pending_key(conversation_id: uuid.UUID) -> str:
    """The cache key (read with Django's cache by the title view) saying a conversation's title is being written."""
    return f"conversation-title-pending:{conversation_id}"


async def title_pending_set(conversation_id: uuid.UUID, *, pending: bool) -> None:
    """Mark or clear `title_pending_key` through this loop's Redis client.

    Not `cache.aset`: Django's async cache methods run the sync ones in a new worker thread, each with a new Redis
    connection, two thread hops and two connections per first reply (bench/chat_latency.py's profile). The value
    is the one Django's cache would store: its Redis serializer keeps integers as they are, so `cache.get` reads 1.
    """
    key = cache.make_and_validate_key(title_pending_key(conversation_id))
    if pending:
        await streams.redis_client().set(key, 1, ex=TITLE_TIMEOUT_SECONDS + 10)
    else:
        await streams.redis_client().delete(key)


def will_name(prepared: Prepared) -> bool:
    """Whether a small model names the conversation after this reply (its first, on a provider that has one)."""
    return bool(
        prepared.first_question
        and prepared.provider is not None
        and prepared.conversation_id is not None
        and prepared.provider_name in TITLE_MODELS
    )


async def name_conversation(prepared: Prepared) -> None:
    """A title from the provider's small model (TITLE_MODELS) for a conversation's first exchange; never raises.

    Without a small model (offline, Ollama), or when the call fails, the title stays the question's first words,
    set when it was sent. A title the user set is never replaced (conversation_title_generate checks it).
    """
    if not will_name(prepared):
        return
    model = TITLE_MODELS[prepared.provider_name]
    request = ChatRequest(
        model=model,
        system=TITLE_INSTRUCTIONS,
        messages=[PromptMessage("user", prepared.first_question[:2000])],
        # Room for the thinking of reasoning models (GPT nano, Grok mini) before the few words; cleaned to 7 words.
        max_tokens=512,
    )
    try:
        completion = await asyncio.wait_for(complete(prepared.provider, request), TITLE_TIMEOUT_SECONDS)
    except Exception as exc:  # ProviderError, a timeout, anything: the words title stays
        logger.warning("naming conversation %s failed: %s", prepared.conversation_id, exc)
        return
    try:
        await in_thread(_save_title, prepared, model, completion)
    except Exception:
        logger.exception("saving the title of conversation %s failed", prepared.conversation_id)


def _save_title(prepared: Prepared, model: str, completion: Completion) -> None:
    conversation_title_generate(conversation_id=prepared.conversation_id, title=completion.text)
    if completion.input_tokens is not None or completion.output_tokens is not None:
        # The title call is paid for like the reply: the usage page and the budget count it.
        usage_log_write(
            user_id=prepared.user_id,
            conversation_id=prepared.conversation_id,
            provider=prepared.provider_name,
            model=model,
            input_tokens=completion.input_tokens or 0,
            output_tokens=completion.output_tokens or 0,
            own_key=prepared.key is not None,
        )
