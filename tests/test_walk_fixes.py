"""Wording and links a new user's walk through the app found wanting (view tests; the browser ones are in
test_browser_walk_fixes.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conversations import projects


@pytest.mark.django_db
def test_an_empty_projects_page_links_the_document_search_settings_and_says_how_documents_get_in(user, user_client):
    project = projects.project_create(user=user, name="Garden")
    page = user_client.get(reverse("conversations:project", args=[project.id])).content.decode()

    # "(Settings)" was plain text, and "Upload a document to add it here" promised what uploading does not do.
    assert f'<a href="{reverse("accounts:retrieval")}">document search settings</a>' in page
    assert "(Settings)" not in page
    assert "to add it here" not in page and "it can then be added here" in page
