"""Every URL of the app, GET and POST, with hostile values in every parameter a form of ours uses: never a 500.

The class of defect this guards against: a view that reads a value straight from the request and hands it to the
database (a NUL byte), to Redis (a stream id with a line break), to a parser (deep nesting), or to a slice that
cuts a huge string silently somewhere else. New views are covered as soon as they are routed.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.services import SYSTEM, provider_key_save
from tests.factories import (
    AttachmentFactory,
    ChunkFactory,
    ConversationFactory,
    DataExportFactory,
    DocumentFactory,
    DocumentVersionFactory,
    MessageFactory,
    ProjectFactory,
    StreamFactory,
    SuggestionFactory,
    ToolExecutionFactory,
)

HOSTILE_VALUES = [
    "\x00",
    "a\x00b",
    "line\rbreak\revent: done\r",
    b"%ED%A0%80%FF",  # raw bytes on the wire: a UTF-16 surrogate encoded as UTF-8, and a byte no UTF-8 has
    "x" * 100_000,
    "[" * 5_000 + "]" * 5_000,
    '{"a":' * 2_000 + "1" + "}" * 2_000,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "-1",
    "99999999999999999999999999",
]
FIELDS = [
    "content", "title", "system_prompt", "model", "q", "cursor", "page", "theme", "provider", "api_key", "base_url",
    "public", "retrieval_enabled", "shared", "description", "text", "last_event_id", "name", "action", "next",
    "password", "login", "email", "chunk_size", "similarity_threshold", "top_k", "language", "layout",
    "conversation", "days", "default_model", "hidden_models",
]  # fmt: skip
LAST = ("delete", "guest", "revoke")
SKIP_PREFIXES = ("admin/", "accounts/", "static/")  # Django's and allauth's own, tested upstream


def routes(resolver=None, prefix: str = ""):
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from routes(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def fill(route: str, values: dict[str, str]) -> str | None:
    def replace(match: re.Match) -> str:
        return values.get(match.group(2), "00000000-0000-0000-0000-000000000000")

    path = re.sub(r"<(?:(\w+):)?(\w+)>", replace, route)
    return "/" + path.lstrip("^").rstrip("$")


def objects_of(user) -> dict[str, str]:
    """One of everything a URL can name, the user's: the values for the URL patterns' parameters."""
    conversation = ConversationFactory(user=user, provider="offline", model="offline")
    question = MessageFactory(conversation=conversation, role="user")
    reply = MessageFactory(conversation=conversation, role="assistant", parent=question)
    stream = StreamFactory(message=MessageFactory(conversation=conversation, role="assistant", parent=question))
    document = DocumentFactory(owner=user)
    version = DocumentVersionFactory(document=document)
    key = provider_key_save(user=user, provider="anthropic", api_key="sk-ant-sweep-0000001", client=SYSTEM)
    return {
        "conversation_id": str(conversation.id),
        "message_id": str(reply.id),
        "stream_id": str(stream.id),
        "document_id": str(document.id),
        "version_id": str(version.id),
        "suggestion_id": str(SuggestionFactory(version=version).id),
        "chunk_id": str(ChunkFactory(document=document).id),
        "key_id": str(key.id),
        "project_id": str(ProjectFactory(user=user).id),
        "attachment_id": str(AttachmentFactory(conversation=conversation).id),
        "execution_id": str(ToolExecutionFactory(message=reply).id),
        "export_id": str(DataExportFactory(user=user).id),
        "action": "accept",
        "kind": "json",
        "session_key": "nosuchsession",
    }


@pytest.fixture
def owned(user):
    return objects_of(user)


@pytest.mark.django_db(transaction=True)
def test_no_url_answers_hostile_parameters_with_a_500(user_client, owned, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    user_client.raise_request_exception = False
    failures = []
    checked = 0
    # Routes that end the session or delete what the others need go last.
    for route, _pattern in sorted(routes(), key=lambda item: any(word in item[0] for word in LAST)):
        if route.startswith(SKIP_PREFIXES):
            continue
        path = fill(route, owned)
        for value in HOSTILE_VALUES:
            encoded = value.decode() if isinstance(value, bytes) else quote(value)
            form = "&".join(f"{name}={encoded}" for name in FIELDS)
            for method in ("get", "post"):
                if path.endswith("/events/") and method == "get":
                    # An event stream answers for minutes: its hostile input (Last-Event-ID) is tested on its own.
                    continue
                if method == "get":
                    response = user_client.get(f"{path}?{form}", headers={"HX-Request": "true"})
                else:
                    response = user_client.generic(
                        "POST", path, form, "application/x-www-form-urlencoded", headers={"HX-Request": "true"}
                    )
                checked += 1
                if response.status_code >= 500:
                    failures.append(f"{method.upper()} {path} with {value[:30]!r}: {response.status_code}")
        # Text parameters of the path itself: a NUL or a line break there must not reach a query either.
        if "<str:" in route or "<path:" in route or "<session_key:" in route:
            for segment in ("%00", "a%00b", "%0D%0Aevent", "x" * 2000, "%ED%A0%80", "..%2F..%2Fetc"):
                hostile = re.sub(r"<(?:str|path|session_key):\w+>", segment, route)
                hostile = "/" + re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: owned.get(m.group(2), ""), hostile)
                for method in ("get", "post"):
                    response = getattr(user_client, method)(hostile)
                    checked += 1
                    if response.status_code >= 500:
                        failures.append(f"{method.upper()} {hostile[:80]}: {response.status_code}")
    assert checked > 100
    assert not failures, "\n".join(failures)
