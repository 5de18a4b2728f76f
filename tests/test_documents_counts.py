"""Counts read as English: "1 passage", "2 passages", on the document's page and in the list."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import DocumentFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("count", "words"), [(1, "1 passage"), (2, "2 passages"), (0, "0 passages")])
def test_a_documents_passages_are_counted_in_words_that_agree(user_client, user, count, words):
    document = DocumentFactory(owner=user, title="Notes", chunk_count=count)
    detail = user_client.get(reverse("documents:detail", args=[document.id])).content.decode()
    assert f"Ready · {words}<" in detail or f"Ready · {words} ·" in detail
    listing = user_client.get(reverse("documents:list")).content.decode()
    assert f'<small class="muted">{words}</small>' in listing
    if count == 1:
        assert "1 passages" not in detail + listing
