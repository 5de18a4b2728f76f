"""The chat sidebar (issue 16): pinned chats first, then the recent ones by day, keyset-paginated; pin, unpin, archive
and restore from each chat's menu and the chat's header; archived chats on their own page, searchable, restorable;
the previews and layout preferences. Every new URL is its owner's alone (404 for anyone else)."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Preferences
from conversations import services, sidebar
from conversations.models import Conversation
from tests.clock import clock_fixture  # noqa: F401  (the clock fixture)
from tests.factories import ConversationFactory, MessageFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def page_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'class="conversation-link"[^>]*>([^<]*)</a>', page)]


def headings(page: str) -> list[str]:
    return re.findall(r'<h2 class="sidebar-group-heading"[^>]*>([^<]*)</h2>', page)


def ago(**delta) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


# --- Groups and pages ---------------------------------------------------------------------------------------------


def test_day_buckets():
    today = dt.date(2026, 3, 15)
    at = lambda day: timezone.make_aware(dt.datetime.combine(day, dt.time(12)))  # noqa: E731
    assert sidebar.day_bucket(moment=at(today), today=today) == ("today", "Today")
    assert sidebar.day_bucket(moment=at(today + dt.timedelta(days=1)), today=today)[0] == "today"
    assert sidebar.day_bucket(moment=at(dt.date(2026, 3, 14)), today=today) == ("yesterday", "Yesterday")
    assert sidebar.day_bucket(moment=at(dt.date(2026, 3, 8)), today=today)[1] == "Previous 7 days"
    assert sidebar.day_bucket(moment=at(dt.date(2026, 3, 7)), today=today)[1] == "Previous 30 days"
    assert sidebar.day_bucket(moment=at(dt.date(2026, 2, 13)), today=today)[1] == "Previous 30 days"
    assert sidebar.day_bucket(moment=at(dt.date(2026, 2, 12)), today=today) == ("month-2026-02", "February 2026")
    assert sidebar.day_bucket(moment=at(dt.date(2024, 12, 1)), today=today) == ("month-2024-12", "December 2024")


def test_the_sidebar_lists_pinned_chats_first_then_recent_ones_by_day_and_never_archived_ones(user, user_client, clock):
    # At noon, so "5 minutes ago" is today whenever the suite runs (it failed a run just after midnight).
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    clock.advance(seconds=(noon - timezone.now()).total_seconds())
    ConversationFactory(user=user, title="Old pinned", pinned=True, updated_at=ago(days=90))
    ConversationFactory(user=user, title="Fresh", updated_at=ago(minutes=5))
    ConversationFactory(user=user, title="Of yesterday", updated_at=ago(days=1))
    ConversationFactory(user=user, title="Of last week", updated_at=ago(days=4))
    ConversationFactory(user=user, title="Of last month", updated_at=ago(days=20))
    long_ago = ago(days=400)
    ConversationFactory(user=user, title="Long ago", updated_at=long_ago)
    ConversationFactory(user=user, title="Put away", archived_at=ago(days=1), updated_at=ago(minutes=1))
    ConversationFactory(user=user, title="Pinned then archived", pinned=True, archived_at=ago(days=1))
    ConversationFactory(title="Someone else's")

    page = page_of(user_client.get(reverse("conversations:index")))
    assert titles(page) == ["Old pinned", "Fresh", "Of yesterday", "Of last week", "Of last month", "Long ago"]
    month = timezone.localdate(long_ago).strftime("%B %Y")
    assert headings(page) == ["Pinned", "Today", "Yesterday", "Previous 7 days", "Previous 30 days", month]
    assert "Archived chats" in page and reverse("conversations:archived") in page


def test_show_older_goes_on_with_the_group_on_screen_without_repeating_its_heading(user, user_client):
    start = ago(days=1)
    for number in range(55):
        ConversationFactory(user=user, title=f"Chat {number:03}", updated_at=start + dt.timedelta(seconds=number))
    ConversationFactory(user=user, title="Older still", updated_at=ago(days=3))
    ConversationFactory(user=user, title="Pinned one", pinned=True, updated_at=ago(days=1))

    page = page_of(user_client.get(reverse("conversations:index")))
    assert titles(page)[:2] == ["Pinned one", "Chat 054"] and len(titles(page)) == 51
    [older] = re.findall(r'hx-get="([^"]+)"[^>]*>Show older', page)

    rest = page_of(user_client.get(html.unescape(older), **HTMX))
    assert titles(rest) == [f"Chat {n:03}" for n in range(4, -1, -1)] + ["Older still"], "no pinned chat again"
    # Yesterday's last chats go into the list already on screen (out of band); the next group starts anew.
    assert 'hx-swap-oob="beforeend:#sidebar-group-yesterday-list"' in rest
    assert headings(rest) == ["Previous 7 days"]
    assert "Show older" not in rest and "No conversations yet." not in rest


def test_a_new_user_sees_the_empty_state():
    assert sidebar.sidebar_page(user=UserFactory()).empty


# --- Previews -----------------------------------------------------------------------------------------------------


def test_previews_show_each_chats_last_message_as_plain_text_in_one_query(user, user_client):
    chat = ConversationFactory(user=user, title="Markdown reply", updated_at=ago(minutes=1))
    question = MessageFactory(conversation=chat, content="What is **bold**?", created_at=ago(minutes=3))
    MessageFactory(
        conversation=chat, role="assistant", parent=question, created_at=ago(minutes=2),
        content="# Heading\n\nIt is **strong** text, see [the docs](https://example.com) <script>x</script>",
    )  # fmt: skip
    long_one = ConversationFactory(user=user, title="Long", updated_at=ago(minutes=2))
    MessageFactory(conversation=long_one, content="word " * 400)
    ConversationFactory(user=user, title="Empty", updated_at=ago(minutes=3))

    page = page_of(user_client.get(reverse("conversations:index")))
    previews = dict(re.findall(r'id="conversation-preview-([0-9a-f-]+)">([^<]*)</p>', page))
    text = html.unescape(previews[str(chat.id)])
    assert text.startswith("Heading It is strong text, see the docs"), text
    assert "**" not in text and "](" not in text and "#" not in text
    assert "<script>" not in page.split('id="conversation-groups"')[1].split("</nav>")[0]
    assert len(html.unescape(previews[str(long_one.id)])) <= sidebar.PREVIEW_LENGTH + 1
    assert html.unescape(previews[str(long_one.id)]).endswith("…")
    assert f'aria-describedby="conversation-preview-{chat.id}"' in page

    # One query for the previews, however many chats are listed.
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            sidebar.sidebar_page(user=user, previews=True)
        return len(queries)

    before = count_queries()
    for number in range(10):
        MessageFactory(conversation=ConversationFactory(user=user, title=f"More {number}"), content="hello")
    assert count_queries() == before


def test_without_a_model_each_chats_preview_is_its_question_not_the_offline_notice(user, user_client):
    from chatbot.llm.offline import no_model_notice

    for number, question in enumerate(["How do I repot a fern?", "Is basil a perennial?"]):
        chat = ConversationFactory(user=user, title=f"Chat {number}", updated_at=ago(minutes=number))
        asked = MessageFactory(conversation=chat, content=question, created_at=ago(minutes=3))
        MessageFactory(conversation=chat, role="assistant", parent=asked, provider="offline", model="offline",
                       content=no_model_notice(), created_at=ago(minutes=2))  # fmt: skip
    page = page_of(user_client.get(reverse("conversations:index")))
    previews = [html.unescape(text) for text in re.findall(r'class="conversation-preview"[^>]*>([^<]*)</p>', page)]
    # Every preview was "This conversation has no language model, so I cannot write an answer myself. …".
    assert previews == ["How do I repot a fern?", "Is basil a perennial?"]


def test_a_preview_that_only_repeats_the_title_is_left_out(user, user_client):
    """Titled by its question's first words (offline, or before a title is written), a chat previewed the same
    question: the same words twice in the list."""
    question = "How do I repot a fern that has outgrown its pot without hurting the roots in the middle of winter?"
    chat = ConversationFactory(user=user, title=services.title_from_words(question), updated_at=ago(minutes=1))
    MessageFactory(conversation=chat, content=question, created_at=ago(minutes=3))
    other = ConversationFactory(user=user, title="Fern care", updated_at=ago(minutes=2))
    MessageFactory(conversation=other, content="How do I repot a fern?", created_at=ago(minutes=3))
    page = page_of(user_client.get(reverse("conversations:index")))
    previews = [html.unescape(text) for text in re.findall(r'class="conversation-preview"[^>]*>([^<]*)</p>', page)]
    assert previews == ["How do I repot a fern?"], "the other chat's preview says more than its title"


def test_previews_off_shows_titles_only(user, user_client):
    Preferences.objects.create(user=user, conversation_previews=False)
    chat = ConversationFactory(user=user, title="Quiet")
    MessageFactory(conversation=chat, content="A secret-looking preview text")
    page = page_of(user_client.get(reverse("conversations:index")))
    assert titles(page) == ["Quiet"]
    assert "conversation-preview" not in page and "A secret-looking preview text" not in page


def test_previews_are_shown_for_the_chats_listed_under_a_project_too(user, user_client):
    """The preference covers every chat of the sidebar: those listed under their project had none."""
    project = ProjectFactory(user=user, name="Garden")
    in_project = ConversationFactory(user=user, title="Garlic", project=project)
    MessageFactory(conversation=in_project, content="How deep should I plant garlic?")
    outside = ConversationFactory(user=user, title="Loose")
    MessageFactory(conversation=outside, content="Anything else?")
    page = page_of(user_client.get(reverse("conversations:index")))
    previews = dict(re.findall(r'id="conversation-preview-([0-9a-f-]+)">([^<]*)</p>', page))
    assert previews == {str(in_project.id): "How deep should I plant garlic?", str(outside.id): "Anything else?"}
    Preferences.objects.create(user=user, conversation_previews=False)
    assert "conversation-preview" not in page_of(user_client.get(reverse("conversations:index")))


# --- Pin and archive ------------------------------------------------------------------------------------------------


def test_pin_and_unpin_from_the_sidebar_menu_redraw_the_sidebar(user, user_client):
    chat = ConversationFactory(user=user, title="To pin", updated_at=ago(days=2))
    ConversationFactory(user=user, title="Newer", updated_at=ago(minutes=1))
    url = reverse("conversations:pin", args=[chat.id])
    current = {"HTTP_HX_CURRENT_URL": "http://testserver" + reverse("conversations:detail", args=[chat.id])}

    page = page_of(user_client.post(url, {"pinned": "1"}, **HTMX, **current))
    chat.refresh_from_db()
    assert chat.pinned
    assert headings(page)[0] == "Pinned" and titles(page) == ["To pin", "Newer"]
    assert re.search(rf'id="conversation-link-{chat.id}" aria-current="page"', page), "the chat on screen stays marked"
    assert ">Unpin</button>" in page
    header_pin = re.search(r'<form[^>]*id="chat-pin-form"[^>]*>.*?</form>', page, re.S)
    assert header_pin and 'hx-swap-oob="true"' in header_pin.group(0), "the chat's header Pin comes back out of band"
    assert ">Unpin</button>" in header_pin.group(0) and 'name="pinned" value="0"' in header_pin.group(0)

    page = page_of(user_client.post(url, {"pinned": "0"}, **HTMX))
    chat.refresh_from_db()
    assert not chat.pinned and "Pinned" not in headings(page)
    assert titles(page) == ["Newer", "To pin"], "back in its place by activity"


def test_pin_and_archive_work_without_script_and_go_back_to_the_page(user, user_client):
    chat = ConversationFactory(user=user, title="No script")
    detail = reverse("conversations:detail", args=[chat.id])
    response = user_client.post(reverse("conversations:pin", args=[chat.id]), {"pinned": "1", "next": detail})
    assert response.status_code == 302 and response["Location"] == detail
    response = user_client.post(
        reverse("conversations:pin", args=[chat.id]), {"pinned": "0", "next": "https://evil.example/"}
    )
    assert response["Location"] == detail, "an outside address is not followed"

    response = user_client.post(reverse("conversations:archive", args=[chat.id]), {"archived": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("conversations:index")
    chat.refresh_from_db()
    assert chat.archived_at is not None
    page = page_of(user_client.get(response["Location"]))
    assert "“No script” was archived" in page and "No script" not in titles(page)

    # The archived chat still opens (its link, a search result), says it is archived and offers Restore.
    page = page_of(user_client.get(detail))
    assert "This chat is archived" in page and ">Restore</button>" in page
    response = user_client.post(reverse("conversations:archive", args=[chat.id]), {"archived": "0"})
    assert response["Location"] == detail
    chat.refresh_from_db()
    assert chat.archived_at is None


def test_archiving_the_chat_on_screen_from_the_sidebar_leaves_for_a_new_chat(user, user_client):
    chat = ConversationFactory(user=user, title="On screen")
    other = ConversationFactory(user=user, title="Elsewhere")
    detail = "http://testserver" + reverse("conversations:detail", args=[chat.id])
    response = user_client.post(
        reverse("conversations:archive", args=[other.id]), {"archived": "1"}, **HTMX, HTTP_HX_CURRENT_URL=detail
    )
    assert response.status_code == 200 and titles(response.content.decode()) == ["On screen"]
    response = user_client.post(
        reverse("conversations:archive", args=[chat.id]), {"archived": "1"}, **HTMX, HTTP_HX_CURRENT_URL=detail
    )
    assert response["HX-Redirect"] == reverse("conversations:index")


def test_archiving_the_chat_on_screen_from_its_header_keeps_it_there_and_redraws_the_header(user, user_client):
    chat = ConversationFactory(user=user, title="On screen")
    ConversationFactory(user=user, title="Elsewhere")
    url = reverse("conversations:archive", args=[chat.id])
    on_screen = "http://testserver" + reverse("conversations:detail", args=[chat.id])
    header = {**HTMX, "HTTP_HX_TRIGGER": "chat-archive-form", "HTTP_HX_CURRENT_URL": on_screen}

    response = user_client.post(url, {"archived": "1"}, **header)
    page = page_of(response)
    assert "HX-Redirect" not in response, "the chat stays on screen"
    chat.refresh_from_db()
    assert chat.archived_at is not None
    assert titles(page) == ["Elsewhere"]
    form = re.search(r'<form[^>]*id="chat-archive-form"[^>]*>.*?</form>', page, re.S).group(0)
    assert 'hx-swap-oob="true"' in form and 'name="archived" value="0"' in form and ">Restore</button>" in form
    assert f'aria-describedby="chat-archived-{chat.id}"' in form
    notice = re.search(rf'<p[^>]*id="chat-archived-{chat.id}"[^>]*>(.*?)</p>', page, re.S)
    assert 'hx-swap-oob="true"' in notice.group(0) and " hidden" not in notice.group(0)
    assert notice.group(1).startswith("This chat is archived")

    page = page_of(user_client.post(url, {"archived": "0"}, **header))
    chat.refresh_from_db()
    assert chat.archived_at is None and "On screen" in titles(page)
    form = re.search(r'<form[^>]*id="chat-archive-form"[^>]*>.*?</form>', page, re.S).group(0)
    assert ">Archive</button>" in form and 'name="archived" value="1"' in form
    notice = re.search(rf'<p[^>]*id="chat-archived-{chat.id}"[^>]*>(.*?)</p>', page, re.S)
    assert " hidden" in notice.group(0) and notice.group(1) == ""


def test_the_headers_archive_without_script_comes_back_to_the_chat(user, user_client):
    chat = ConversationFactory(user=user, title="No script")
    detail = reverse("conversations:detail", args=[chat.id])
    form = re.search(r'<form[^>]*id="chat-archive-form"[^>]*>.*?</form>', page_of(user_client.get(detail)), re.S)
    assert f'action="{reverse("conversations:archive", args=[chat.id])}"' in form.group(0)
    assert f'name="next" value="{detail}"' in form.group(0)
    response = user_client.post(reverse("conversations:archive", args=[chat.id]), {"archived": "1", "next": detail})
    assert response.status_code == 302 and response["Location"] == detail
    page = page_of(user_client.get(detail))
    assert "“No script” was archived" in page and "This chat is archived" in page and ">Restore</button>" in page


def test_archiving_keeps_the_first_archive_time_and_the_pin():
    chat = ConversationFactory(pinned=True)
    services.conversation_set_archived(conversation=chat, archived=True)
    first = chat.archived_at
    services.conversation_set_archived(conversation=chat, archived=True)
    chat.refresh_from_db()
    assert chat.archived_at == first and chat.pinned
    services.conversation_set_archived(conversation=chat, archived=False)
    chat.refresh_from_db()
    assert chat.archived_at is None and chat.pinned


def test_the_archived_page_lists_searches_pages_and_restores(user, user_client):
    kept = ConversationFactory(user=user, title="Tax return 2025", archived_at=ago(days=2))
    by_message = ConversationFactory(user=user, title="Untitled", archived_at=ago(days=1))
    MessageFactory(conversation=by_message, content="Notes about penguins in Antarctica")
    ConversationFactory(user=user, title="Active one")
    ConversationFactory(title="Someone else's archived", archived_at=ago(days=1))
    url = reverse("conversations:archived")

    page = page_of(user_client.get(url))
    assert "Tax return 2025" in page and "Untitled" in page
    assert "Active one" not in page and "Someone else" not in page
    page = page_of(user_client.get(url, {"q": "tax"}))
    assert "Tax return 2025" in page and "Untitled" not in page
    page = page_of(user_client.get(url, {"q": "penguin"}))
    assert "Untitled" in page and "Tax return" not in page
    assert "No archived chat matches" in page_of(user_client.get(url, {"q": "zebra"}))

    response = user_client.post(
        reverse("conversations:archive", args=[kept.id]), {"archived": "0", "next": url + "?q=tax"}
    )
    assert response["Location"] == url + "?q=tax"
    kept.refresh_from_db()
    assert kept.archived_at is None
    assert "Tax return 2025" in titles(page_of(user_client.get(reverse("conversations:index"))))


def test_the_archived_page_is_keyset_paginated(user, user_client):
    for number in range(sidebar.PAGE_SIZE + 3):
        ConversationFactory(user=user, title=f"Archived {number:03}", archived_at=ago(days=1),
                            updated_at=ago(days=2) + dt.timedelta(seconds=number))  # fmt: skip
    page = page_of(user_client.get(reverse("conversations:archived")))
    assert page.count('class="archived-item"') == sidebar.PAGE_SIZE
    [more] = re.findall(r'hx-get="([^"]+)"[^>]*>Show more', page)
    rest = page_of(user_client.get(html.unescape(more), **HTMX))
    assert rest.count('class="archived-item"') == 3 and "Archived 000" in rest and "<h1>" not in rest


@pytest.mark.parametrize(
    ("name", "data"),
    [("conversations:pin", {"pinned": "1"}), ("conversations:archive", {"archived": "1"})],
)
def test_another_users_chat_cannot_be_pinned_or_archived(user_client, name, data):
    other = ConversationFactory(title="Not yours", pinned=False)
    # The header's forms too (their id as the trigger, the chat's page as the current one).
    on_screen = "http://testserver" + reverse("conversations:detail", args=[other.id])
    header = {**HTMX, "HTTP_HX_TRIGGER": "chat-archive-form", "HTTP_HX_CURRENT_URL": on_screen}
    for extra in ({}, HTMX, header):
        assert user_client.post(reverse(name, args=[other.id]), data, **extra).status_code == 404
    other.refresh_from_db()
    assert not other.pinned and other.archived_at is None


def test_another_users_archived_chat_cannot_be_restored(user_client):
    other = ConversationFactory(title="Not yours", archived_at=ago(days=1))
    url = reverse("conversations:archive", args=[other.id])
    assert user_client.post(url, {"archived": "0"}).status_code == 404
    other.refresh_from_db()
    assert other.archived_at is not None


def test_the_workspace_urls_need_a_signed_in_user(client):
    chat = ConversationFactory()
    for url in (reverse("conversations:pin", args=[chat.id]), reverse("conversations:archive", args=[chat.id])):
        assert client.post(url, {"pinned": "1", "archived": "1"}).status_code == 302
    assert client.get(reverse("conversations:archived")).status_code == 302
    assert client.post(reverse("conversations:layout"), {"layout": "fullscreen"}).status_code == 302
    chat.refresh_from_db()
    assert not chat.pinned and chat.archived_at is None
    assert not Preferences.objects.exists()


def test_pin_and_archive_refuse_get(user, user_client):
    chat = ConversationFactory(user=user)
    assert user_client.get(reverse("conversations:pin", args=[chat.id])).status_code == 405
    assert user_client.get(reverse("conversations:archive", args=[chat.id])).status_code == 405
    assert Conversation.objects.get(id=chat.id).archived_at is None


# --- Layout -------------------------------------------------------------------------------------------------------


def test_the_full_screen_layout_puts_the_sidebar_behind_a_button(user, user_client):
    page = page_of(user_client.get(reverse("conversations:index")))
    assert 'class="chat-page"' in page and ">Hide the sidebar</button>" in page

    response = user_client.post(reverse("conversations:layout"), {"layout": "fullscreen", "next": "/c/"})
    assert response.status_code == 302 and response["Location"] == "/c/"
    assert Preferences.objects.get(user=user).layout == "fullscreen"
    page = page_of(user_client.get(reverse("conversations:index")))
    assert 'class="chat-page layout-fullscreen"' in page
    assert ">Keep the sidebar open</button>" in page

    assert user_client.post(reverse("conversations:layout"), {"layout": "sideways"}).status_code == 400
    assert Preferences.objects.get(user=user).layout == "fullscreen"
    user_client.post(reverse("conversations:layout"), {"layout": "sidebar"})
    assert 'class="chat-page"' in page_of(user_client.get(reverse("conversations:index")))


def test_the_layout_from_the_settings_page_is_the_same_preference(user, user_client):
    Preferences.objects.create(user=user, layout="fullscreen")
    chat = ConversationFactory(user=user)
    assert "layout-fullscreen" in page_of(user_client.get(reverse("conversations:detail", args=[chat.id])))


# --- The sidebar's search box, as it is typed in ------------------------------------------------------------------


def test_typing_in_the_sidebar_search_lists_the_matching_chats_and_clearing_it_brings_the_groups_back(
    user, user_client
):
    by_title = ConversationFactory(user=user, title="Tomato blight")
    by_message = ConversationFactory(user=user, title="Garden week")
    MessageFactory(conversation=by_message, content="The tomato seedlings went out on Monday.")
    ConversationFactory(user=user, title="Holiday plans")
    stranger = ConversationFactory(user=UserFactory(), title="Tomato secrets")
    url = reverse("conversations:search")
    target = {"HTTP_HX_TARGET": "conversation-groups"}

    page = page_of(user_client.get(url, {"q": "tomato"}, **HTMX, **target))
    assert "Matching “tomato”" in page
    assert set(titles(page)) == {"Tomato blight", "Garden week"}, "each match once, by title or message"
    assert str(stranger.id) not in page and "Tomato secrets" not in page
    assert f'href="{reverse("conversations:search")}?q=tomato"' in page, "the full search page is a link away"
    assert f"/c/{by_title.id}/" in page

    page = page_of(user_client.get(url, {"q": "zzqx"}, **HTMX, **target))
    assert "No chat matches." in page

    page = page_of(user_client.get(url, {"q": "  "}, **HTMX, **target))
    assert "Matching" not in page and {"Tomato blight", "Garden week", "Holiday plans"} <= set(titles(page))

    # Without the target (the search page's own htmx, or no script at all) the search page answers as before.
    assert "Search your chats" in page_of(user_client.get(url, {"q": "tomato"}))


def test_a_chats_menu_offers_rename_and_delete(user, user_client):
    on_screen = ConversationFactory(user=user, title="On screen")
    other = ConversationFactory(user=user, title="Other chat")
    detail = reverse("conversations:detail", args=[on_screen.id])
    page = page_of(user_client.get(detail))
    assert f'href="{reverse("conversations:detail", args=[other.id])}?rename=1">Rename…</a>' in page
    forms = re.findall(r'<form method="post" action="([^"]+)">\s*<input[^>]*>\s*<input type="hidden" name="next" '
                       r'value="([^"]*)">\s*<button[^>]*data-confirm="([^"]*)">Delete…</button>', page)  # fmt: skip
    assert (reverse("conversations:delete", args=[other.id]), detail) in [form[:2] for form in forms]
    assert (reverse("conversations:delete", args=[on_screen.id]), reverse("conversations:index")) in [
        form[:2] for form in forms
    ], "deleting the chat on screen goes to a new chat, not to its own page (a 404)"

    # Rename… opens the settings sheet with the title's field focused.
    page = page_of(user_client.get(reverse("conversations:detail", args=[other.id]), {"rename": "1"}))
    assert re.search(r'<details class="chat-settings" data-sheet open>', page)
    assert re.search(r'<input id="chat-title"[^>]* autofocus>', page)
    assert "data-sheet open" not in page_of(user_client.get(detail))

    response = user_client.post(reverse("conversations:delete", args=[other.id]), {"next": detail})
    assert response.status_code == 302 and response["Location"] == detail
    assert not Conversation.objects.filter(id=other.id).exists()
