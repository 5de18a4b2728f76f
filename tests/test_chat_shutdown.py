"""Stopping the server mid-reply: the reply is saved at once with its text, marked interrupted (not left for the
sweep), and its listeners are told."""

from __future__ import annotations

import os
import signal

import httpx
import pytest
import redis
from django.conf import settings

from conversations import streams
from conversations.models import Stream
from tests.factories import UserFactory
from tests.live import LiveApp, LiveClient, uvicorn_command
from tests.processes import child_environment, free_port, running
from tests.test_chat_streaming import reply_of, start_chat, with_key

pytestmark = [pytest.mark.slow]


def test_a_reply_running_when_the_server_stops_is_saved_with_its_text_and_marked_interrupted(
    transactional_db, fake_anthropic
):
    fake_anthropic.behaviour.reply = " ".join(f"word{number}" for number in range(200))  # 12 s at [[slow]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = child_environment(ANTHROPIC_BASE_URL=fake_anthropic.url, ANTHROPIC_API_KEY="")

    def ready() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with running(uvicorn_command(port), environment=environment, ready=ready) as server:
        client = LiveClient(app=LiveApp(url=url, email_dir=""), user=with_key(UserFactory()))
        conversation, stream_url = start_chat(client, "Tell me a long story [[slow]]")
        seen = list(client.events(stream_url, limit=4))
        assert len(seen) == 4
        os.killpg(server.pid, signal.SIGTERM)
        # uvicorn shuts down gracefully, then ends by the signal it caught (so -15, not 0).
        assert server.wait(15) in (0, -signal.SIGTERM)

    message = reply_of(conversation)
    assert message.status == "failed"
    assert "server is shutting down" in message.error
    assert message.content and fake_anthropic.behaviour.reply.startswith(message.content)
    stream = Stream.objects.get(message=message)
    assert stream.status == "failed" and stream.finished_at is not None
    entries = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True).xrange(streams.stream_key(stream.id))
    assert entries[-1][1]["t"] == "done", "listeners were told the reply ended"
    assert streams.delta_text(entries) == message.content, "what listeners saw is what was saved"
