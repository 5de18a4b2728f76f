"""The admin's System page: seed 001's monitoring queries and the last day's failures, superusers only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import Message
from documents.models import Document
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/admin/system/"


def test_only_superusers_see_it(client):
    response = client.get(URL)
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
    client.force_login(factories.UserFactory())
    assert client.get(URL).status_code == 302, "not staff: the admin's sign-in"
    client.force_login(factories.UserFactory(is_staff=True))
    assert client.get(URL).status_code == 403
    assert "System</a>" not in client.get("/admin/").content.decode(), "no link for staff"


def test_the_admin_links_to_it(admin_client):
    assert f'href="{URL}">System</a>' in admin_client.get("/admin/").content.decode()


def test_it_shows_tables_connections_slow_queries_and_the_last_days_failures(admin_client):
    failed = factories.DocumentFactory(title="Broken handbook", status=Document.Status.FAILED, error="not a PDF")
    factories.DocumentFactory(title="Fine handbook", status=Document.Status.READY)
    reply = factories.MessageFactory(role="assistant", status="failed", provider="anthropic", error="overloaded")
    old = factories.MessageFactory(role="assistant", status="failed", error="yesterday's news")
    Message.objects.filter(id=old.id).update(created_at=timezone.now() - dt.timedelta(days=2))

    response = admin_client.get(URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert "<td>messages</td>" in page and "<td>conversations</td>" in page and "Dead rows" in page
    assert "connections to this database" in page and "Celery queue:" in page
    assert "Running for more than 5 seconds" in page
    assert "pg_stat_statements is not available" in page  # the embedded server has no such library
    assert f'href="/admin/documents/document/{failed.id}/change/">Broken handbook</a>' in page
    assert "not a PDF" in page and "Fine handbook" not in page
    assert f'href="/admin/conversations/message/{reply.id}/change/">anthropic' in page and "overloaded" in page
    assert "yesterday&#x27;s news" not in page and "yesterday's news" not in page


def test_it_says_when_documents_were_chunked_by_an_older_chunker_and_how_to_redo_them(admin_client, settings):
    from documents.chunking import CHUNKER_VERSION

    factories.DocumentFactory(status=Document.Status.READY, metadata={"chunker": CHUNKER_VERSION})
    assert 'id="stale-index"' not in admin_client.get(URL).content.decode()
    factories.DocumentFactory(status=Document.Status.READY, metadata={"chunker": CHUNKER_VERSION - 1})
    factories.DocumentFactory(status=Document.Status.READY, metadata={})  # from before versions were recorded
    factories.DocumentFactory(status=Document.Status.PENDING, metadata={})  # indexed soon by this version anyway
    page = " ".join(admin_client.get(URL).content.decode().split())
    assert (
        f"2 of 3 ready documents were chunked by an older version of the chunker than this one ({CHUNKER_VERSION}) "
        f"or embedded by another model than <code>EMBEDDING_MODEL</code> ({settings.EMBEDDING_MODEL})" in page
    )
    assert "python manage.py reindex" in page and "another model's" not in page


def test_it_says_when_documents_were_embedded_by_another_model(admin_client, settings):
    # An operator's walk: after EMBEDDING_MODEL changed, the page said nothing, and questions embedded by the new
    # model were compared with the old model's vectors.
    from documents.chunking import CHUNKER_VERSION

    current = {"chunker": CHUNKER_VERSION, "embedding_model": settings.EMBEDDING_MODEL}
    factories.DocumentFactory(status=Document.Status.READY, metadata=current)
    factories.DocumentFactory(status=Document.Status.READY, metadata={"chunker": CHUNKER_VERSION})  # not recorded
    assert 'id="stale-index"' not in admin_client.get(URL).content.decode()
    factories.DocumentFactory(status=Document.Status.READY, metadata={**current, "embedding_model": "old-model"})
    page = " ".join(admin_client.get(URL).content.decode().split())
    assert "1 of 3 ready documents was chunked by an older version" in page
    assert "1 is another model's, whose vectors questions embedded by this one do not find" in page
