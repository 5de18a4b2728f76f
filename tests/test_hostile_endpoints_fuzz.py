"""Hostile requests the parameter sweep (test_hostile_sweep.py) does not send: hostile headers, the form fields it
leaves out with repeated and wrong-typed values, other methods and malformed bodies, requests without the CSRF
token, another user's ids, hostile file names on the wire, a hostile Last-Event-ID, and the admin's own views.

Every one is answered below 500, and what a refused request touched is as it was.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from accounts.models import KeyAuditLog, ProviderKey, Session
from conversations.models import Attachment, Conversation, Message, Project, Stream
from documents.models import Document
from tests.factories import (
    ConversationFactory,
    MessageFactory,
    StreamFactory,
    UserFactory,
)
from tests.test_chat_idor import _read_async_stream
from tests.test_hostile_sweep import LAST, fill, objects_of, routes

PASSWORD = "correct horse battery staple"
ZERO = "00000000-0000-0000-0000-000000000000"


def paths(values: dict[str, str]) -> list[str]:
    """Every URL of ours filled with `values`; the ones that end the session or delete go last."""
    found = []
    for route, _pattern in sorted(routes(), key=lambda item: any(word in item[0] for word in LAST)):
        if route.startswith(("admin/", "accounts/", "static/")):
            continue
        found.append(fill(route, values))
    return found


def state_of(user) -> dict:
    """What a refused request must leave as it was."""
    return {
        "conversations": sorted(
            Conversation.objects.filter(user=user).values_list("id", "title", "visibility", "pinned")
        ),
        "messages": sorted(Message.objects.filter(conversation__user=user).values_list("id", "content", "status")),
        "documents": sorted(Document.objects.filter(owner=user).values_list("id", "title", "status")),
        "projects": sorted(Project.objects.filter(user=user).values_list("id", "name")),
        "keys": sorted(ProviderKey.objects.filter(user=user).values_list("id", "is_active")),
        "attachments": sorted(Attachment.objects.filter(user=user).values_list("id", flat=True)),
        "streams": sorted(Stream.objects.filter(conversation__user=user).values_list("id", "status")),
    }


def latin1(value: str) -> str:
    """`value` as a header carries it: its UTF-8 bytes, each read as one Latin-1 character (as WSGI hands them)."""
    return value.encode("utf-8", "surrogatepass").decode("latin-1")


@pytest.fixture
def quiet(user_client, settings):
    """A client that answers a view's exception with the 500 page instead of raising it (as production does)."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    user_client.raise_request_exception = False
    return user_client


@pytest.fixture
def owned(user):
    return objects_of(user)


@pytest.fixture
def verified(user):
    """The user, able to sign in through the form (a verified address), with no sign-in limit counted yet."""
    from allauth.account.models import EmailAddress
    from django.core.cache import cache

    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    cache.clear()
    yield user
    cache.clear()


def failures_of(client, requests) -> list[str]:
    failures = []
    for label, send in requests:
        response = send()
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code}")
    return failures


HEADER_VALUES = ["\x00", "a\rb\r\nevent: done", "http://[", "http://[::1/c/", "\udc80" + "x" * 10_000]
HEADERS = [
    "HX-Current-URL", "HX-Target", "HX-Trigger", "HX-Trigger-Name", "HX-Prompt", "Triggering-Event", "HX-Boosted",
    "Last-Event-ID", "User-Agent", "X-Request-ID", "X-Forwarded-For", "Referer", "Accept-Language", "Authorization",
]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_hostile_headers_never_make_a_500(quiet, owned, settings):
    settings.TRUSTED_PROXY_COUNT = 1  # X-Forwarded-For is read, as behind a proxy
    requests = []
    for path in paths(owned):
        for value in HEADER_VALUES:
            for encoded in (False, True) if value.startswith("http") else (False,):
                headers = {"HX-Request": "true", **{name: latin1(value) for name in HEADERS}}
                if encoded:  # htmx's own way to send a URL that is not ASCII: django-htmx unquotes it
                    headers.update({"HX-Current-URL": quote(latin1(value)), "HX-Current-URL-URI-AutoEncoded": "true"})
                for method in ("get", "post"):
                    if method == "get" and path.endswith("/events/"):
                        continue  # an event stream answers for minutes; its Last-Event-ID is tested below
                    requests.append(
                        (
                            f"{method.upper()} {path} {value[:12]!r}",
                            lambda m=method, p=path, h=headers: getattr(quiet, m)(p, headers=h),
                        )
                    )
    failures = failures_of(quiet, requests)
    assert len(requests) > 500
    assert not failures, "\n".join(failures)


@pytest.mark.django_db
def test_a_current_url_that_is_no_url_is_ignored(quiet, user, owned):
    """HX-Current-URL names the chat on screen; "http://[" (an unclosed IPv6 host) made urlsplit raise."""
    headers = {"HX-Request": "true", "HX-Current-URL": "http://["}
    conversation = owned["conversation_id"]
    pin = reverse("conversations:pin", args=[conversation])
    assert quiet.post(pin, {"pinned": "1"}, headers=headers).status_code == 200
    assert Conversation.objects.get(id=conversation).pinned
    assert quiet.get(reverse("conversations:list"), headers=headers).status_code == 200
    assert quiet.get(reverse("conversations:index"), headers=headers).status_code == 200


@pytest.mark.django_db
def test_a_signed_out_fragment_with_a_current_url_that_is_no_url_goes_to_sign_in(client, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    client.raise_request_exception = False
    response = client.get(reverse("conversations:list"), headers={"HX-Request": "true", "HX-Current-URL": "http://["})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith(reverse("account_login"))


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_reset_password"])
def test_a_next_that_is_no_url_is_ignored_on_the_sign_in_pages(client, name):
    """allauth parses `next` itself before Django's check: "http://[" raised ValueError there."""
    assert client.get(reverse(name) + "?next=http://[").status_code == 200


@pytest.mark.django_db
def test_signing_in_with_a_hostile_next_goes_to_the_default_page(client, verified):
    response = client.post(reverse("account_login") + "?next=http://[", {"login": verified.email, "password": PASSWORD})
    assert response.status_code == 302 and "[" not in response["Location"]


@pytest.mark.django_db
def test_a_user_agent_with_nul_is_stored_clean_in_the_key_log_and_the_session(client, verified, owned, settings):
    """The User-Agent went as it came into the key audit log and the session row: a NUL failed the INSERT."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    client.raise_request_exception = False
    hostile = {"User-Agent": "Fire\x00fox\r/128"}
    response = client.post(reverse("account_login"), {"login": verified.email, "password": PASSWORD}, headers=hostile)
    assert response.status_code == 302
    assert Session.objects.get(user=verified).user_agent == "Fire\x00fox\n/128".replace("\x00", "")
    response = client.post(reverse("accounts:key_toggle", args=[owned["key_id"]]), headers=hostile)
    assert response.status_code < 400
    entry = KeyAuditLog.objects.filter(user=verified).latest("created_at")
    assert "\x00" not in entry.user_agent and entry.user_agent.startswith("Firefox")


@pytest.mark.django_db
@pytest.mark.parametrize("forwarded", ["not-an-ip", "1.2.3.4\x00", "999.1.1.1", "[::1]"])
def test_a_forwarded_address_that_is_no_address_is_stored_as_unknown(client, verified, owned, settings, forwarded):
    """Behind a proxy the client's address comes from X-Forwarded-For; anything but an address failed the INSERT
    into the inet column."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    settings.TRUSTED_PROXY_COUNT = 1
    client.raise_request_exception = False
    headers = {"X-Forwarded-For": latin1(forwarded)}
    response = client.post(reverse("account_login"), {"login": verified.email, "password": PASSWORD}, headers=headers)
    assert response.status_code == 302
    assert Session.objects.get(user=verified).ip is None
    assert client.post(reverse("accounts:key_toggle", args=[owned["key_id"]]), headers=headers).status_code < 400
    assert KeyAuditLog.objects.filter(user=verified).latest("created_at").ip is None


# Fields the sweep does not fill, each sent three times (a list where one value is read), with wrong types.
FIELDS = [
    "reasoning_effort", "project", "attachment", "keep_attachment", "document", "compare_model", "vote", "rating",
    "comment", "series", "listed_at", "left_out", "left_out_kinds", "last", "decision", "arguments_hash", "chats",
    "attachments_listed", "message", "from", "chunks", "instructions", "confirm", "default_system_prompt",
    "preferred_sources", "excluded_sources", "max_cost_per_tool", "max_cost_per_hour", "read_only_operations",
    "email_notifications", "multi_model_enabled", "top_k", "similarity_threshold",
]  # fmt: skip
TYPED_VALUES = ["-1", "99999999999999999999999", "nan", "not-a-uuid", "[]", "\udc80"]


@pytest.mark.django_db(transaction=True)
def test_repeated_and_wrong_typed_fields_never_make_a_500(quiet, owned):
    requests = []
    for path in paths(owned):
        for value in [*TYPED_VALUES, "x" * 1_100_000]:
            encoded = quote(value.encode("utf-8", "surrogatepass"))
            if len(value) > 1000:  # a megabyte in the fields of free text the sweep does not fill, once each
                form = "&".join(f"{name}={encoded}" for name in ("comment", "instructions", "default_system_prompt"))
            else:
                form = "&".join(f"{name}={encoded}&{name}={encoded}&{name}=" for name in FIELDS)
            requests.append(
                (
                    f"POST {path} {value[:12]!r}",
                    lambda p=path, f=form: quiet.generic(
                        "POST", p, f, "application/x-www-form-urlencoded", headers={"HX-Request": "true"}
                    ),
                )
            )
            if not path.endswith("/events/") and len(value) < 1000:
                requests.append((f"GET {path} {value[:12]!r}", lambda p=path, f=form: quiet.get(f"{p}?{f}")))
    failures = failures_of(quiet, requests)
    assert not failures, "\n".join(failures)


DEEP = b"[" * 100_000 + b"]" * 100_000
BODIES = [
    ("application/json", DEEP),
    ("application/json", b'{"content": "\\u0000\\ud800", "title": ["x"]}'),
    ("multipart/form-data", b"no boundary"),
    ("multipart/form-data; boundary=B", b'--B\r\nContent-Disposition: form-data; name="content"\r\n\r\nunended'),
    ("application/x-www-form-urlencoded", b"&".join(b"f%d=1" % n for n in range(5_000))),
    ("application/x-www-form-urlencoded; charset=nosuchcharset", b"content=hello"),
    ("text/plain", b"\x00\xff" * 1_000),
]


@pytest.mark.django_db(transaction=True)
def test_other_methods_and_malformed_bodies_never_make_a_500(quiet, owned):
    requests = []
    for path in paths(owned):
        for method in ("PUT", "PATCH", "DELETE"):
            requests.append(
                (f"{method} {path}", lambda m=method, p=path: quiet.generic(m, p, b"content=x", "text/plain"))
            )
        for content_type, body in BODIES:
            requests.append(
                (
                    f"POST {path} {content_type}",
                    lambda p=path, c=content_type, b=body: quiet.generic(
                        "POST", p, b, c, headers={"HX-Request": "true"}
                    ),
                )
            )
    failures = failures_of(quiet, requests)
    assert not failures, "\n".join(failures)


@pytest.mark.django_db(transaction=True)
def test_every_post_without_the_csrf_token_is_403_and_changes_nothing(user, owned):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.force_login(user)
    before = state_of(user)
    answers = {
        path: client.post(path, {"content": "x", "title": "y", "decision": "approve"}).status_code
        for path in paths(owned)
    }
    wrong = {path: status for path, status in answers.items() if status != 403}
    assert not wrong, wrong
    assert state_of(user) == before


@pytest.mark.django_db(transaction=True)
def test_another_users_ids_are_404_on_every_url_and_change_nothing(quiet, user, owned):
    other = UserFactory()
    theirs = objects_of(other)
    before = state_of(other)
    ids = {value for name, value in theirs.items() if name.endswith("_id")}
    wrong = []
    for path in paths(theirs):
        if not any(value in path for value in ids):
            continue
        for method in ("get", "post"):
            data = {"content": "x", "title": "y", "decision": "approve", "name": "z"} if method == "post" else {}
            status = getattr(quiet, method)(path, data).status_code
            if status not in (404, 405):
                wrong.append(f"{method.upper()} {path}: {status}")
    assert not wrong, "\n".join(wrong)
    assert state_of(other) == before


def multipart(field: str, filename: bytes, data: bytes, **fields: str) -> bytes:
    """A multipart body as a hostile client sends it: the file name's bytes as they are, no client cleaning them."""
    parts = [
        b'--B\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name.encode(), value.encode())
        for name, value in fields.items()
    ]
    parts.append(
        b'--B\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\nContent-Type: text/plain\r\n\r\n%s\r\n'
        % (field.encode(), filename, data)
    )
    return b"".join(parts) + b"--B--\r\n"


FILE_NAMES = [
    "a\x00b.txt", "line\rbreak.txt", "x" * 5_000 + ".txt", "../../etc/passwd", "\u202eexe.txt", "\U0001f642",
    "", "..", "a/b\\c.txt", "\ud800.txt", "a\tb.md", "COM1",
]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_hostile_file_names_on_the_wire_are_stored_clean_or_refused(quiet, user, owned, settings, monkeypatch):
    from conversations.portability import views as portability

    settings.ATTACHMENT_UPLOADS_PER_HOUR = 1_000
    monkeypatch.setattr(portability, "IMPORT_ATTEMPTS_PER_HOUR", 1_000)
    targets = [
        (reverse("conversations:attachment_upload"), "file", {"conversation": owned["conversation_id"]}),
        (reverse("conversations:attachment_upload"), "file", {}),
        (reverse("accounts:chats_import"), "file", {}),
    ]
    failures = []
    for url, field, fields in targets:
        for name in FILE_NAMES:
            for data in (b"Some notes.\n", DEEP, b'{"conversations": [{"title": ["x"], "messages": {}}]}'):
                body = multipart(field, name.encode("utf-8", "surrogatepass"), data, **fields)
                response = quiet.generic(
                    "POST", url, body, "multipart/form-data; boundary=B", headers={"HX-Request": "true"}
                )
                if response.status_code >= 500:
                    failures.append(f"{url} {name[:12]!r} {data[:12]!r}: {response.status_code}")
    assert not failures, "\n".join(failures)
    for attachment in Attachment.objects.filter(user=user):
        for text in (attachment.original_name, attachment.file.name):
            assert not re.search(r"[\x00-\x08\x0b-\x1f\u202e]", text) and ".." not in text.split("/")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("last_event_id", ["\x00", "1-0\r\nevent: done", "9" * 5_000, "-1", "\udc80"])
def test_a_finished_streams_events_with_a_hostile_last_event_id_end_with_its_reply(quiet, user, last_event_id):
    conversation = ConversationFactory(user=user, provider="offline", model="offline")
    reply = MessageFactory(conversation=conversation, role="assistant", status="complete", content="Done here.")
    stream = StreamFactory(message=reply, status=Stream.Status.COMPLETE)
    url = reverse("conversations:stream_events", args=[stream.id])
    for response in (
        quiet.get(url, headers={"Last-Event-ID": latin1(last_event_id)}),
        quiet.get(f"{url}?last_event_id={quote(last_event_id.encode('utf-8', 'surrogatepass'))}"),
    ):
        assert response.status_code == 200
        body = _read_async_stream(response)
        assert body.startswith("event: done") and "Done here." in body


@pytest.mark.django_db(transaction=True)
def test_the_admins_own_views_answer_hostile_values_with_a_400_not_a_500(user, owned, settings):
    """A NUL in a search, a filter or an object's id went to PostgreSQL, which refuses it in text; an action's
    selected rows of another form than a UUID raised ValidationError."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    staff = Client(raise_request_exception=False)
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    before = state_of(user)
    failures = []
    for model, model_admin in admin.site._registry.items():
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        changelist = reverse(f"admin:{info}_changelist")
        filters = [name for name in model_admin.list_filter if isinstance(name, str)][:1]
        queries = ["q=%00", "q=a%00b", "o=%00", "p=-1", *(f"{name}=%00" for name in filters)]
        requests = [(f"GET {changelist}?{query}", lambda u=f"{changelist}?{query}": staff.get(u)) for query in queries]
        try:
            change = reverse(f"admin:{info}_change", args=["X"]).replace("X", "a%00b")
            requests.append((f"GET {change}", lambda u=change: staff.get(u)))
        except NoReverseMatch:  # a view-only page of the admin's (a dashboard): no rows to change
            pass
        action = "action=delete_selected&index=0&_selected_action=not-a-uuid&_selected_action=%00&post=yes"
        requests.append(
            (
                f"POST {changelist} action",
                lambda u=changelist: staff.generic("POST", u, action, "application/x-www-form-urlencoded"),
            )
        )
        failures += failures_of(staff, requests)
    assert not failures, "\n".join(failures)
    assert state_of(user) == before
    # What PostgreSQL refuses is answered as a bad request, saying why (an unknown id of the right form is a 302).
    refused = staff.get(reverse("admin:accounts_session_change", args=["X"]).replace("X", "a%00b"))
    assert refused.status_code == 400 and b"NUL" in refused.content
