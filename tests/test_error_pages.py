"""The 404 and 500 pages production shows (DEBUG off): a readable page with a way back, not Django's bare text."""

from __future__ import annotations

import uuid

from django.test import RequestFactory
from django.views.defaults import server_error


def test_a_missing_chat_gets_a_page_with_the_way_back_to_the_chats(user_client):
    response = user_client.get(f"/c/{uuid.uuid4()}/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "<h1>This page does not exist</h1>" in page and 'href="/c/"' in page and "Back to your chats" in page
    assert 'class="site-header' in page or "<header" in page, "the site's header is there: the way around"


def test_a_visitor_gets_the_start_page_link(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "Go to the start page" in response.content.decode()


def test_the_500_page_renders_without_a_database_or_a_request_context():
    response = server_error(RequestFactory().get("/"))
    page = response.content.decode()
    assert response.status_code == 500 and "Something went wrong on our side" in page and 'href="/"' in page
