"""The seeds' common queries: results, constant query counts, and the indexes they use."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.http import Http404
from django.utils import timezone

from conversations import selectors
from documents import selectors as document_selectors
from documents.models import Chunk
from tests import factories

pytestmark = pytest.mark.django_db


def make_conversations(user, count: int):
    start = timezone.now() - dt.timedelta(days=1)
    return [
        factories.ConversationFactory(user=user, title=f"chat {i}", updated_at=start + dt.timedelta(minutes=i // 2))
        for i in range(count)  # pairs share a timestamp, so the id tie-break matters
    ]


def test_conversation_list_pages_by_keyset_newest_first_without_gaps_or_repeats(django_assert_num_queries):
    user = factories.UserFactory()
    made = make_conversations(user, 23)
    factories.ConversationFactory()  # someone else's
    seen, cursor = [], None
    while True:
        with django_assert_num_queries(1):
            page = selectors.conversation_list(user=user, cursor=cursor, limit=5)
        seen.extend(page.conversations)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 23 and len({c.id for c in seen}) == 23
    assert [c.id for c in seen] == [c.id for c in sorted(made, key=lambda c: (c.updated_at, c.id), reverse=True)]


def test_conversation_list_uses_no_offset_and_ignores_a_garbage_cursor():
    user = factories.UserFactory()
    make_conversations(user, 3)
    page = selectors.conversation_list(user=user, cursor="!!not-a-cursor!!", limit=2)
    assert len(page.conversations) == 2 and page.next_cursor
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        selectors.conversation_list(user=user, cursor=page.next_cursor, limit=2)
    assert "OFFSET" not in queries[0]["sql"].upper()


def test_archived_conversations_are_left_out_unless_asked_for():
    user = factories.UserFactory()
    factories.ConversationFactory(user=user, archived_at=timezone.now())
    assert selectors.conversation_list(user=user).conversations == []
    assert len(selectors.conversation_list(user=user, include_archived=True).conversations) == 1


def test_a_conversation_with_its_messages_in_two_queries_whatever_their_number(django_assert_num_queries):
    conversation = factories.ConversationFactory()
    for i in range(30):
        factories.MessageFactory(
            conversation=conversation, content=f"message {i}", role="user" if i % 2 else "assistant"
        )
    with django_assert_num_queries(2):
        loaded = selectors.conversation_with_messages(user=conversation.user, conversation_id=conversation.id)
        contents = [m.content for m in loaded.messages.all()]
    assert contents == [f"message {i}" for i in range(30)]


def test_another_users_conversation_is_a_404():
    conversation = factories.ConversationFactory()
    stranger = factories.UserFactory()
    for lookup in (selectors.conversation_with_messages, selectors.conversation_get, selectors.conversation_votes):
        with pytest.raises(Http404):
            lookup(user=stranger, conversation_id=conversation.id)


def test_recent_messages_are_the_last_n_oldest_first(django_assert_num_queries):
    conversation = factories.ConversationFactory()
    start = timezone.now()
    for i in range(15):
        factories.MessageFactory(conversation=conversation, content=f"m{i}", created_at=start + dt.timedelta(seconds=i))
    with django_assert_num_queries(1):
        recent = selectors.recent_messages(conversation=conversation, limit=10)
    assert [m.content for m in recent] == [f"m{i}" for i in range(5, 15)]


def test_message_search_finds_the_users_messages_ranked_and_no_one_elses(django_assert_num_queries):
    user = factories.UserFactory()
    mine = factories.ConversationFactory(user=user)
    best = factories.MessageFactory(conversation=mine, content="My order 12345 has not arrived. Where is my order?")
    factories.MessageFactory(conversation=mine, content="I placed an order last week for a blue lamp.")
    factories.MessageFactory(conversation=mine, content="Tell me about the weather in Lisbon.")
    factories.MessageFactory(content="Where is my order? (someone else asking)")
    with django_assert_num_queries(1):
        results = list(selectors.message_search(user=user, query="where is my order"))
    assert results[0].id == best.id
    assert all(m.conversation.user_id == user.id for m in results)
    assert "Lisbon" not in " ".join(m.content for m in results)
    assert list(selectors.message_search(user=user, query="orders")), "stemming: orders matches order"


def test_conversation_statistics_in_one_query(django_assert_num_queries):
    user = factories.UserFactory()
    busy, empty = factories.ConversationFactory(user=user), factories.ConversationFactory(user=user)
    start = timezone.now() - dt.timedelta(hours=1)
    for i in range(4):
        factories.MessageFactory(conversation=busy, created_at=start + dt.timedelta(minutes=i))
    with django_assert_num_queries(1):
        stats = {c.id: c for c in selectors.conversation_statistics(user=user)}
    assert stats[busy.id].message_count == 4
    assert stats[busy.id].first_message_at == start
    assert stats[busy.id].last_message_at == start + dt.timedelta(minutes=3)
    assert stats[empty.id].message_count == 0 and stats[empty.id].last_message_at is None


def test_votes_of_a_chat(django_assert_num_queries):
    vote = factories.VoteFactory()
    factories.VoteFactory()  # another chat's
    with django_assert_num_queries(2):
        votes = list(selectors.conversation_votes(user=vote.user, conversation_id=vote.conversation_id))
    assert votes == [vote]


def test_a_documents_versions_and_suggestions(django_assert_num_queries):
    version = factories.DocumentVersionFactory(number=1)
    later = factories.DocumentVersionFactory(document=version.document, number=2)
    open_one = factories.SuggestionFactory(version=later)
    factories.SuggestionFactory(version=later, is_resolved=True, accepted=True)
    owner = version.document.owner
    with django_assert_num_queries(2):
        numbers = [v.number for v in document_selectors.document_versions(user=owner, document_id=version.document_id)]
    assert numbers == [1, 2]
    unresolved = document_selectors.version_suggestions(user=owner, version_id=later.id, unresolved_only=True)
    assert list(unresolved) == [open_one]
    stranger = factories.UserFactory()
    with pytest.raises(Http404):
        document_selectors.document_versions(user=stranger, document_id=version.document_id)
    with pytest.raises(Http404):
        document_selectors.version_suggestions(user=stranger, version_id=later.id)


def test_shared_documents_are_readable_by_everyone_but_editable_by_no_user():
    shared = factories.DocumentFactory(owner=None)
    user = factories.UserFactory()
    assert document_selectors.document_get(user=user, document_id=shared.id) == shared
    with pytest.raises(Http404):
        document_selectors.document_get(user=user, document_id=shared.id, editable=True)


def explain(sql: str, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_message_search_uses_the_gin_index_on_a_big_table():
    user = factories.UserFactory()
    conversation = factories.ConversationFactory(user=user)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO messages (id, conversation_id, role, content, parts, status, error, provider, model,
                                  reasoning_effort, trace_id, provider_metadata, metadata, created_at, updated_at)
            SELECT gen_random_uuid(), %s, 'user',
                   'message ' || g || ' about ' || md5(g::text) || ' and ' || md5((g * 7)::text),
                   '[]', 'complete', '', '', '', '', '', '{}', '{}', now(), now()
            FROM generate_series(1, 30000) AS g
            """,
            [conversation.id],
        )
        cursor.execute("ANALYZE messages")
    queryset = selectors.message_search(user=user, query="pgvector")
    plan = queryset.explain()
    assert "messages_search_gin" in plan, plan


def test_nearest_neighbour_query_uses_the_hnsw_index_on_a_big_table():
    document = factories.DocumentFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO chunks (id, document_id, owner_id, ordinal, text, chapter, section, char_start, char_end,
                                token_count, embedding, created_at)
            SELECT gen_random_uuid(), %s, %s, g, 'passage ' || g, '', '', 0, 10, 2,
                   (SELECT array_agg(random() - 0.5)::vector FROM generate_series(1, %s) AS d WHERE g > 0), now()
            FROM generate_series(1, 3000) AS g
            """,
            [document.id, document.owner_id, 384],
        )
        cursor.execute("ANALYZE chunks")
    assert Chunk.objects.filter(document=document).count() == 3000
    query = "[" + ",".join(["0.01"] * 384) + "]"
    plan = explain("SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 10", [query])
    assert "chunks_embedding_hnsw" in plan, plan


def test_message_path_is_one_branch_root_first_whatever_else_the_tree_holds():
    conversation = factories.ConversationFactory()
    question = factories.MessageFactory(conversation=conversation, role="user", content="q")
    first_reply = factories.MessageFactory(conversation=conversation, role="assistant", parent=question, content="a1")
    second_reply = factories.MessageFactory(conversation=conversation, role="assistant", parent=question, content="a2")
    follow_up = factories.MessageFactory(conversation=conversation, role="user", parent=second_reply, content="q2")
    factories.MessageFactory(conversation=conversation, role="user", parent=first_reply, content="other branch")
    factories.MessageFactory(content="another conversation")

    path = selectors.message_path(leaf_id=follow_up.id)
    assert [m.content for m in path] == ["q", "a2", "q2"]
    assert [m.id for m in selectors.message_path(leaf_id=question.id)] == [question.id]


def test_message_path_says_which_questions_have_files_and_whether_the_conversation_was_summarised(
    django_assert_num_queries,
):
    """What the prompt would otherwise ask in queries of its own (files, a summary) comes with the path."""
    from conversations.attachments import prompt_attachments
    from conversations.prompting import FittedPrompt
    from conversations.summaries import plan_context

    conversation = factories.ConversationFactory()
    question = factories.MessageFactory(conversation=conversation, role="user", content="q")
    reply = factories.MessageFactory(conversation=conversation, role="assistant", parent=question, content="a")
    follow_up = factories.MessageFactory(conversation=conversation, role="user", parent=reply, content="q2")
    factories.ContextOptimizationFactory(conversation=conversation)  # a truncation: not a summary

    path = selectors.message_path(leaf_id=follow_up.id)
    assert [(m.has_attachments, m.conversation_summarised) for m in path] == [(False, False)] * 3
    with django_assert_num_queries(0):
        assert prompt_attachments(history=path, provider="anthropic", model="claude-sonnet-5-5") == {}
        fitted = FittedPrompt(messages=[], tokens_before=10, tokens_after=10, left_out=[])
        plan = plan_context(
            conversation=conversation, history=path, fitted=fitted, context_window=100_000, provider_name="offline"
        )
    assert plan.previous is None

    factories.AttachmentFactory(conversation=conversation, message=follow_up)
    factories.ContextOptimizationFactory(
        conversation=conversation, optimization_type="summarization", summary="Earlier: q and a.",
        affected_messages=[str(question.id), str(reply.id)],
    )  # fmt: skip
    path = selectors.message_path(leaf_id=follow_up.id)
    assert [(m.has_attachments, m.conversation_summarised) for m in path] == [
        (False, True), (False, True), (True, True)
    ]  # fmt: skip
    assert list(prompt_attachments(history=path, provider="anthropic", model="claude-sonnet-5-5")) == [follow_up.id]
