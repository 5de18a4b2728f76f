"""A burst that drains the database pool (issue 19): an event stream that must wait for a connection waits, and
opens, instead of failing with a 500 (an EventSource whose first answer is an error never reconnects)."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from conversations.models import Message, Stream
from tests.factories import StreamFactory, UserFactory
from tests.live import LiveApp, LiveClient, uvicorn_command
from tests.processes import child_environment, database_url_for_tests, free_port, running

pytestmark = [pytest.mark.slow]
HELD_SECONDS = 7  # longer than the 5 s pool wait this app had, when a queued request failed


@pytest.fixture
def one_connection_app(django_db_blocker, tmp_path):
    """The app with a pool of one connection, so a second request must queue for it (the pool's wait untouched)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = child_environment(DATABASE_POOL_MIN_SIZE="1", DATABASE_POOL_MAX_SIZE="1")
    environment.pop("DATABASE_POOL_TIMEOUT", None)

    def ready() -> bool:
        import httpx

        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with django_db_blocker.unblock(), running(uvicorn_command(port), environment=environment, ready=ready):
        yield LiveApp(url=url, email_dir=str(tmp_path))


def test_event_streams_queued_for_the_only_connection_wait_and_open(one_connection_app, transactional_db):
    user = UserFactory()
    streams = [
        StreamFactory(message__conversation__user=user, message__status=Message.Status.COMPLETE,
                      message__content=f"Saved reply {n}", status=Stream.Status.COMPLETE)
        for n in range(2)
    ]  # fmt: skip
    client = LiveClient(app=one_connection_app, user=user)
    client.get("/healthz")  # the pool's connection opened before the lock is taken
    # Another client holds the streams table: the first request's owner check takes the app's only connection and
    # blocks on the lock; the second queues in the pool for longer than the old 5 s wait.
    locker = psycopg.connect(database_url_for_tests())
    locker.execute("LOCK TABLE streams IN ACCESS EXCLUSIVE MODE")
    answers: dict[int, tuple[int, str]] = {}

    def open_stream(index: int) -> None:
        with client.http.stream("GET", f"/c/streams/{streams[index].id}/events/", timeout=60) as response:
            answers[index] = (response.status_code, response.read().decode())

    threads = [threading.Thread(target=open_stream, args=(n,)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
            time.sleep(0.3)
        time.sleep(HELD_SECONDS)
    finally:
        locker.rollback()
        locker.close()
    for thread in threads:
        thread.join(60)
    client.http.close()
    for index in range(2):
        status, body = answers[index]
        assert status == 200, body[:500]
        assert "event: done" in body and f"Saved reply {index}" in body
