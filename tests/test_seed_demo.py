from __future__ import annotations

import html
import math
import re
from io import StringIO
from itertools import pairwise
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import AutoApprovalSettings, Preferences, RetrievalSettings, User
from chatbot.demo import DEFAULT_EMAIL, DEFAULT_PASSWORD
from conversations.models import Conversation, Message, Project, UsageLog, Vote
from documents.models import Chunk, Document, DocumentVersion, Suggestion
from documents.retrieval import retrieve
from tests import factories

pytestmark = pytest.mark.django_db


def seed(*args: str, real_embeddings: bool = False) -> dict[str, int]:
    out = StringIO()
    call_command("seed_demo", *args, *([] if real_embeddings else ["--pseudo-embeddings"]), stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("Demo account ready")
    return {label: int(count) for label, count in (line.split(": ") for line in lines[:-1])}


def rows_of(user: User) -> dict[str, int]:
    return {
        "accounts.User": User.objects.filter(pk=user.pk).count(),
        "account.EmailAddress": EmailAddress.objects.filter(user=user, verified=True, primary=True).count(),
        "accounts.Preferences": Preferences.objects.filter(user=user).count(),
        "accounts.RetrievalSettings": RetrievalSettings.objects.filter(user=user).count(),
        "accounts.AutoApprovalSettings": AutoApprovalSettings.objects.filter(user=user).count(),
        "conversations.Project": Project.objects.filter(user=user).count(),
        "conversations.Conversation": Conversation.objects.filter(user=user).count(),
        "conversations.Message": Message.objects.filter(conversation__user=user).count(),
        "conversations.Vote": Vote.objects.filter(user=user).count(),
        "conversations.UsageLog": UsageLog.objects.filter(user=user).count(),
        "documents.Document": Document.objects.filter(owner=user).count(),
        "documents.DocumentVersion": DocumentVersion.objects.filter(document__owner=user).count(),
        "documents.Suggestion": Suggestion.objects.filter(user=user).count(),
        "documents.Chunk": Chunk.objects.filter(owner=user).count(),
    }


def test_seeding_twice_gives_one_demo_account_with_the_same_rows():
    bystander = factories.ConversationFactory().user

    first = seed()
    second = seed()

    assert first == second
    assert User.objects.filter(email=DEFAULT_EMAIL).count() == 1
    user = authenticate(username=DEFAULT_EMAIL, password=DEFAULT_PASSWORD)
    assert user is not None
    assert user.email == DEFAULT_EMAIL
    assert rows_of(user) == second
    assert second["conversations.Conversation"] == 3
    assert second["documents.Document"] == 2
    assert all(count >= 1 for count in second.values())
    # Nobody else's data goes with the old demo account.
    assert Conversation.objects.filter(user=bystander).count() == 1


def test_the_demo_account_signs_in_through_the_app(client):
    seed()

    response = client.post(reverse("account_login"), {"login": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(User.objects.get(email=DEFAULT_EMAIL).pk)


def test_conversations_are_multi_turn_with_offline_answers_citing_sources():
    seed()
    user = User.objects.get(email=DEFAULT_EMAIL)

    for conversation in Conversation.objects.filter(user=user):
        messages = list(conversation.messages.order_by("created_at"))
        assert len(messages) >= 4
        assert [message.role for message in messages] == ["user", "assistant"] * (len(messages) // 2)
        assert messages[0].parent is None
        assert all(message.parent_id == previous.pk for previous, message in pairwise(messages))
        assert conversation.updated_at == messages[-1].created_at
        assert conversation.active_leaf_id == messages[-1].pk
        for answer in messages[1::2]:
            assert (answer.provider, answer.model) == ("offline", "offline")
            sources = answer.metadata["sources"]
            assert sources
            # Stored as a real reply stores them: the cited chunk (which the page links to), numbered as the
            # reply's [n] markers.
            assert [source["n"] for source in sources] == list(range(1, len(sources) + 1))
            assert set(re.findall(r"\[(\d+)\]", answer.content)) == {str(source["n"]) for source in sources}
            for source in sources:
                chunk = Chunk.objects.select_related("document").get(id=source["chunk_id"], owner=user)
                assert (source["chapter"], source["section"]) == (chunk.chapter, chunk.section)
                assert (source["title"], source["text"], source["document_id"]) == (
                    chunk.document.title,
                    chunk.text,
                    str(chunk.document_id),
                )

    vote = Vote.objects.get(user=user)
    assert vote.rating == 5
    assert vote.message.role == "assistant"
    assert UsageLog.objects.get(user=user).provider == "offline"


def test_documents_are_ready_with_consistent_chunks():
    seed(real_embeddings=True)
    user = User.objects.get(email=DEFAULT_EMAIL)

    for document in Document.objects.filter(owner=user):
        assert document.status == Document.Status.READY
        latest = document.versions.order_by("-number").first()
        chunks = list(document.chunks.order_by("ordinal"))
        assert document.chunk_count == len(chunks) >= 3
        assert document.content_hash
        for chunk in chunks:
            assert chunk.owner_id == document.owner_id
            assert chunk.chapter and chunk.section
            assert latest.content[chunk.char_start : chunk.char_end] == chunk.text
            assert len(chunk.embedding) == settings.EMBEDDING_DIMENSIONS
            assert math.isclose(sum(value * value for value in chunk.embedding), 1.0, rel_tol=1e-4)

    assert DocumentVersion.objects.filter(document__owner=user).count() > Document.objects.filter(owner=user).count()
    # Current as the app indexes documents: the System page does not ask for a reindex of a fresh demo.
    from chatbot.system import stale_index

    assert stale_index() | {"ready": 0} == stale_index() | {"ready": 0, "stale": 0, "other_model": 0}
    suggestion = Suggestion.objects.get(user=user)
    assert suggestion.original_text in suggestion.version.content


def test_embeddings_are_deterministic_across_runs():
    seed()
    before = {(chunk.document.title, chunk.ordinal): list(chunk.embedding) for chunk in Chunk.objects.all()}
    seed()
    after = {(chunk.document.title, chunk.ordinal): list(chunk.embedding) for chunk in Chunk.objects.all()}
    assert before == after


def test_email_and_password_options():
    seed("--email", "  Someone.Else@Example.com ", "--password", "another-pass-456")

    assert authenticate(username="someone.else@example.com", password="another-pass-456") is not None
    assert not User.objects.filter(email=DEFAULT_EMAIL).exists()


@pytest.mark.parametrize("kind", ["staff", "own conversation", "own document"])
def test_an_account_with_data_of_its_own_is_never_replaced(kind):
    user = factories.UserFactory(email=DEFAULT_EMAIL, is_staff=kind == "staff")
    if kind == "own conversation":
        factories.ConversationFactory(user=user)
    elif kind == "own document":
        factories.DocumentFactory(owner=user)

    with pytest.raises(CommandError, match="not a demo account"):
        seed()

    assert User.objects.filter(pk=user.pk).exists()
    assert not Project.objects.filter(user=user).exists()


def test_the_demo_passages_are_embedded_by_the_model_so_a_question_in_other_words_finds_its_passage():
    seed(real_embeddings=True)
    user = User.objects.get(email=DEFAULT_EMAIL)

    # No passage holds all these words: only the embeddings can match it to "Searing".
    sources = retrieve(user=user, query="how do I get a brown crust on a steak in a hot skillet", options=None)

    assert sources, "the question found nothing in the demo documents"
    assert (sources[0].title, sources[0].section) == ("A weeknight cooking guide", "Searing")
    assert sources[0].similarity > 0.4


# Links a crawl must not follow: signing out ends the crawl's session; the admin, static files and uploads are not
# pages of the account.
NOT_PAGES = ("/accounts/logout/", "/admin/", "/static/", "/media/")
LINK = re.compile(r'\b(?:href|hx-get)="([^"]*)"')


def crawl(client, start: list[str], limit: int = 400) -> dict[str, int]:
    """Every same-site page reachable by links from `start`, with the status each ended on (redirects followed)."""
    statuses: dict[str, int] = {}
    queue = list(start)
    while queue and len(statuses) < limit:
        url = queue.pop(0)
        if url in statuses:
            continue
        response = client.get(url, follow=True)
        statuses[url] = response.status_code
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        for href in LINK.findall(response.content.decode()):
            target = urlsplit(html.unescape(href))
            if target.scheme or target.netloc or not target.path.startswith("/"):
                continue  # another site, a mailto: or a bare #fragment
            if target.path.startswith(NOT_PAGES):
                continue
            queue.append(target.path + (f"?{target.query}" if target.query else ""))
    assert not queue or all(url in statuses for url in queue), f"the crawl stopped at {limit} pages"
    return statuses


def test_every_page_of_the_demo_account_opens(client):
    seed()
    user = User.objects.get(email=DEFAULT_EMAIL)
    # Signed in through the login form, as the README tells a person to.
    client.post(reverse("account_login"), {"login": DEFAULT_EMAIL, "password": DEFAULT_PASSWORD})
    shared = Conversation.objects.filter(user=user).order_by("created_at").first()
    client.post(reverse("conversations:share", args=[shared.id]), {"public": "on"})

    statuses = crawl(client, ["/", f"{reverse('conversations:search')}?q=topic"])

    failing = {url: status for url, status in statuses.items() if status != 200}
    assert not failing
    cited = {
        source["chunk_id"]
        for message in Message.objects.filter(conversation__user=user, role="assistant")
        for source in message.metadata["sources"]
    }
    conversations = Conversation.objects.filter(user=user).values_list("pk", flat=True)
    documents = Document.objects.filter(owner=user).values_list("pk", flat=True)
    expected = {
        reverse("conversations:index"),
        reverse("conversations:shared", args=[shared.id]),
        reverse("documents:list"),
        *(reverse("conversations:detail", args=[pk]) for pk in conversations),
        *(reverse("documents:detail", args=[pk]) for pk in documents),
        *(reverse("documents:chunk", args=[pk]) for pk in cited),
        *(
            reverse(name)
            for name in (
                "accounts:preferences",
                "accounts:retrieval",
                "accounts:tools",
                "accounts:keys",
                "accounts:audit_log",
                "accounts:sessions",
                "accounts:delete_account",
                "account_email",
                "account_change_password",
                "mfa_index",
            )
        ),
    }
    assert expected <= set(statuses), expected - set(statuses)
