"""The app served for real by uvicorn (ASGI: streaming works), and an HTTP client signed in to it."""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field

import httpx
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

from accounts.sessions import SessionStore


@dataclass
class LiveApp:
    url: str
    email_dir: str


def uvicorn_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "chatbot.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning", "--timeout-graceful-shutdown", "3",
    ]  # fmt: skip


def session_for(user) -> str:
    """A real session row for the user (committed: the test must use transactional_db)."""
    store = SessionStore(user_agent="pytest live client", ip="127.0.0.1")
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def signed_in(new_page, live_app, user):
    """A new browser page whose session is the user's (session_for)."""
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page


@dataclass
class SseEvent:
    event: str
    data: str
    id: str | None = None


@dataclass
class LiveClient:
    """An httpx client with the user's session cookie and a CSRF token, like a browser tab."""

    app: LiveApp
    user: object
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        token = secrets.token_hex(16)  # Django accepts an unmasked 32-character secret equal to the cookie
        self.http = httpx.Client(
            base_url=self.app.url,
            cookies={"sessionid": session_for(self.user), "csrftoken": token},
            headers={"X-CSRFToken": token, "Referer": self.app.url + "/"},
            timeout=30,
        )

    def post(self, path: str, data: dict | None = None, htmx: bool = True) -> httpx.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        return self.http.post(path, data=data or {}, headers=headers)

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def events(self, path: str, *, last_event_id: str | None = None, limit: int | None = None, timeout: float = 30):
        """Read Server-Sent Events until `done` (or `limit` events); yields SseEvent."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        with self.http.stream("GET", path, headers=headers, timeout=timeout) as response:
            response.raise_for_status()
            yield from parse_sse(response.iter_lines(), limit=limit)


def parse_sse(lines, *, limit: int | None = None):
    count = 0
    event: dict = {"data": []}
    for line in lines:
        if line == "":
            if event.get("event"):
                count += 1
                yield SseEvent(event=event["event"], data="\n".join(event["data"]), id=event.get("id"))
                if event["event"] == "done" or (limit is not None and count >= limit):
                    return
            event = {"data": []}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                event["data"].append(value)
            elif name in {"event", "id"}:
                event[name] = value


def answer_dialog(asked: list[str], *, accept: bool):
    """A handler for page.once("dialog", ...): records the dialog's message in `asked`, then accepts or dismisses."""

    def handle(dialog) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    return handle


def scrolls_sideways(page) -> bool:
    """Whether the page is wider than its viewport, measured once its stylesheets have loaded.

    A click that navigates returns when the new page commits; its text can be found before its CSS arrives, and an
    unstyled page (a table at full width) is wider than a phone. CI caught that once under load.
    """
    page.wait_for_load_state("load")
    return page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")


def settle_live_app(*, timeout: float = 10.0, quiet: float = 0.3) -> None:
    """Stop the replies the live server is still writing, and wait for them and any conversation title to be saved.

    The live server writes after a test's last request: a reply the test did not read to its end, a title named
    after the done event. A test's teardown that empties the tables meanwhile can deadlock with those writes (CI
    saw TRUNCATE and a reply's commit each wait for the other's lock). A reply runs while its stream's alive mark
    is in Redis (set at once by the outbox); a stream a factory made active has none and is not waited for.
    """
    import time

    import redis
    from django.conf import settings

    from conversations import streams
    from conversations.models import Stream

    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    deadline = time.monotonic() + timeout
    quiet_since = None
    try:
        while time.monotonic() < deadline:
            active = list(Stream.objects.filter(status=Stream.Status.ACTIVE).values_list("id", flat=True))
            running = [stream_id for stream_id in active if client.exists(streams.alive_key(stream_id))]
            titles = client.keys("*conversation-title-pending:*")
            if running or titles:
                quiet_since = None
                for stream_id in running:
                    client.set(streams.stop_key(stream_id), "1", ex=60)
            elif not active:
                return
            else:  # a reply that has just started may not have its alive mark yet
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet:
                    return
            time.sleep(0.05)
    finally:
        client.close()
