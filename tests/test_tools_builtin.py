"""The built-in tools, run directly: each scoped to its user, each refusing what it must."""

from __future__ import annotations

import pytest

from chatbot.tools.calculator import CalculatorError, evaluate
from chatbot.tools.registry import ToolContext, ToolFailed, arguments_hash, builtin_tools, validate_arguments
from documents.models import Document, DocumentVersion
from tests.factories import ChunkFactory, DocumentFactory, DocumentVersionFactory, UserFactory

TOOLS = builtin_tools()


def run(name: str, user, **arguments):
    tool = TOOLS[name]
    return tool.run(ToolContext(user=user), validate_arguments(tool, arguments))


@pytest.mark.parametrize(
    ("expression", "value"),
    [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ** 10", 1024), ("2^10", 1024), ("7 // 2", 3), ("7 % 4", 3),
     ("-3 + +4", 1), ("sqrt(16)", 4.0), ("max(1, 5, 3)", 5), ("10 / 4", 2.5), ("round(pi, 2)", 3.14)],
)  # fmt: skip
def test_the_calculator_computes(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    ["__import__('os').system('true')", "().__class__", "open('/etc/passwd')", "9**9**9", "10**100000",
     "2**5000 * 2**5000", "1/0", "x + 1", "'a' * 3", "[1, 2]", "lambda: 1", "1e308 * 10", "(-8) ** 0.5",
     "1" * 600, "sqrt(-1)", ""],
)  # fmt: skip
def test_the_calculator_refuses_anything_else_quickly(expression):
    with pytest.raises(CalculatorError):
        evaluate(expression)


def test_the_calculator_tool_answers_and_fails_cleanly(db):
    user = UserFactory()
    assert run("calculator", user, expression="(3 + 4) * 2**10").text == "7168"
    with pytest.raises(ToolFailed, match="Division by zero"):
        run("calculator", user, expression="1/0")


def test_current_datetime_in_a_time_zone(db):
    user = UserFactory()
    assert "+09:00" in run("current_datetime", user, timezone="Asia/Tokyo").text
    assert "+00:00" in run("current_datetime", user).text
    with pytest.raises(ToolFailed, match="Unknown time zone"):
        run("current_datetime", user, timezone="Mars/Olympus")


def test_arguments_are_checked_against_the_schema():
    with pytest.raises(ToolFailed, match="Missing argument: expression"):
        validate_arguments(TOOLS["calculator"], {})
    with pytest.raises(ToolFailed, match="must be of type string"):
        validate_arguments(TOOLS["calculator"], {"expression": 3})
    with pytest.raises(ToolFailed, match="Unknown argument"):
        validate_arguments(TOOLS["calculator"], {"expression": "1", "shell": "rm"})
    with pytest.raises(ToolFailed, match="must be a JSON object"):
        validate_arguments(TOOLS["calculator"], ["1"])
    assert arguments_hash({"a": 1, "b": 2}) == arguments_hash({"b": 2, "a": 1}) != arguments_hash({"a": 2, "b": 2})


def test_read_document_is_scoped_to_what_the_user_may_read(db):
    owner, other = UserFactory(), UserFactory()
    document = DocumentFactory(owner=owner, title="Plans")
    DocumentVersionFactory(document=document, number=1, content="The secret plan.")
    assert "The secret plan." in run("read_document", owner, document_id=str(document.id)).text
    for user, document_id in ((other, str(document.id)), (owner, "not-a-uuid"), (owner, "0" * 32)):
        with pytest.raises(ToolFailed, match="No document with that id"):
            run("read_document", user, document_id=document_id)
    shared = DocumentFactory(owner=None, title="Handbook")
    DocumentVersionFactory(document=shared, number=1, content="Everyone may read this.")
    assert "Everyone may read this." in run("read_document", other, document_id=str(shared.id)).text


def test_create_and_update_write_versions_authored_by_the_assistant(db, django_capture_on_commit_callbacks):
    owner, other = UserFactory(), UserFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = run("create_document", owner, title="Notes", content="# Notes\n\nFirst draft.")
    document = Document.objects.get(owner=owner)
    assert str(document.id) in result.text and document.source == Document.Source.GENERATED
    assert document.versions.get().created_by == DocumentVersion.Author.ASSISTANT
    assert len(callbacks) == 1, "queued for ingestion"
    run("update_document", owner, document_id=str(document.id), content="Second draft.")
    latest = document.versions.order_by("-number").first()
    assert (latest.number, latest.content, latest.created_by) == (2, "Second draft.", "assistant")
    with pytest.raises(ToolFailed, match="belongs to this user"):
        run("update_document", other, document_id=str(document.id), content="Vandalised.")
    shared = DocumentFactory(owner=None)
    with pytest.raises(ToolFailed, match="belongs to this user"):
        run("update_document", owner, document_id=str(shared.id), content="Vandalised.")
    assert not document.versions.filter(content="Vandalised.").exists()


def test_search_documents_numbers_passages_after_the_replys_sources(db, monkeypatch):
    owner, other = UserFactory(), UserFactory()
    document = DocumentFactory(owner=owner, title="Databases", status="ready")
    ChunkFactory(document=document, owner=owner, text="pgvector adds vector similarity search to PostgreSQL.")
    tool = TOOLS["search_documents"]
    result = tool.run(ToolContext(user=owner, next_source_number=3), {"query": "pgvector similarity", "k": 3})
    assert [source.number for source in result.sources] == [3]
    assert '<source id="3" from="Databases' in result.text and "pgvector adds" in result.text
    assert tool.run(ToolContext(user=other), {"query": "pgvector similarity"}).sources == ()
