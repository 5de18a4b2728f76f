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


HTMX = {"HTTP_HX_REQUEST": "true"}


def flash_of(response) -> str:
    page = response.content.decode()
    start = page.find('<div class="flash"')
    return page[start : page.find("</ul>", start)] if start >= 0 else ""


@pytest.mark.django_db
def test_moving_a_chat_out_of_its_project_says_so_as_moving_it_in_does(user, user_client):
    from tests.factories import ConversationFactory, ProjectFactory

    project = ProjectFactory(user=user, name="Garden")
    chat = ConversationFactory(user=user, title="Roses")
    url, back = reverse("conversations:move", args=[chat.id]), reverse("conversations:detail", args=[chat.id])
    moved_in = user_client.post(url, {"project": str(project.id), "next": back}, follow=True)
    assert "“Roses” moved to the project “Garden”." in flash_of(moved_in)
    moved_out = user_client.post(url, {"project": "", "next": back}, follow=True)
    assert "“Roses” is no longer in a project." in flash_of(moved_out)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("title", "reason"),
    [("\r", "A title cannot be empty"), ("   ", "A title cannot be empty"), ("t" * 501, "500 characters long at most")],
    ids=["carriage-return", "spaces", "over-long"],
)
def test_a_refused_chat_title_says_why_beside_the_rename_form(user, user_client, title, reason):
    from tests.factories import ConversationFactory

    chat = ConversationFactory(user=user, title="Trip planning")
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    # The sheet's Rename is htmx, with a slot for its answer beside the button.
    assert f'hx-post="{reverse("conversations:rename", args=[chat.id])}" hx-target="#rename-status"' in page
    assert '<span id="rename-status" role="status" data-error-slot></span>' in page
    response = user_client.post(reverse("conversations:rename", args=[chat.id]), {"title": title}, **HTMX)
    # It was a 302 to the page: htmx swapped the whole chat into the form's slot, the reason lost among the rest.
    assert response.status_code == 400 and response["HX-Retarget"] == "#rename-status"
    assert 'class="error" role="alert"' in response.content.decode() and reason in response.content.decode()
    chat.refresh_from_db()
    assert chat.title == "Trip planning"


@pytest.mark.django_db
def test_a_chat_renamed_from_the_sheet_says_so_and_redraws_its_title(user, user_client):
    from tests.factories import ConversationFactory

    chat = ConversationFactory(user=user, title="Trip planning")
    response = user_client.post(reverse("conversations:rename", args=[chat.id]), {"title": " Summer  trip "}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and "Renamed." in body
    assert f'<span id="conversation-title-{chat.id}" hx-swap-oob="innerHTML">Summer trip</span>' in body
    chat.refresh_from_db()
    assert chat.title == "Summer trip" and chat.title_set_by_user


def test_a_reason_after_a_files_name_goes_on_in_lower_case_but_keeps_a_word_in_capitals():
    from chatbot.text import after_colon

    # "empty.txt: the file is empty." beside "junk.bin: This file type is not supported…".
    assert after_colon("junk.bin", "This file type is not supported.") == "junk.bin: this file type is not supported."
    assert after_colon("a.rtf", "RTF files are not supported.") == "a.rtf: RTF files are not supported."
    assert after_colon("a.pdf", "the file is empty.") == "a.pdf: the file is empty."


def test_an_attached_file_that_cannot_be_read_says_so_in_lower_case_after_its_name():
    from conversations.attachments import AttachmentRejected, check_upload

    with pytest.raises(AttachmentRejected) as refused:
        check_upload(data=b"   \n\n   \n", filename="blank.txt")
    assert refused.value.user_message.startswith("blank.txt: no text")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "Nothing was imported: the file is empty."),
        (b" \n", "Nothing was imported: the file is empty."),
        (b'{"format": 1,\n  "version" 1}', "Nothing was imported: the file is not valid JSON (line 2, column 13)."),
        (b"\xff\xfe\x00{", "Nothing was imported: the file is not UTF-8 text"),
    ],
    ids=["empty", "blank", "malformed", "not-utf-8"],
)
def test_an_import_that_cannot_be_read_says_why_in_the_apps_words(user_client, data, said):
    from django.core.files.base import ContentFile

    response = user_client.post(reverse("accounts:chats_import"), {"file": ContentFile(data, name="chats.json")})
    # "Nothing was imported: The file is not valid JSON (Expecting value: line 1 column 1 (char 0))." for both.
    assert response.status_code == 400 and said in flash_of(response)
    assert "Expecting" not in flash_of(response) and "char " not in flash_of(response)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("max_results", "99999999999999999999", "Between 1 and 50 passages."),
        ("max_results", "-5", "Between 1 and 50 passages."),
        ("similarity_threshold", "7", "A similarity between 0 and 1."),
        ("excluded_sources", "x" * 15_101, "The list can be 15,100 characters long at most; this one has 15101."),
    ],
    ids=["huge", "negative", "similarity", "long-titles"],
)
def test_a_refused_document_search_setting_says_one_thing_in_the_apps_words(user_client, field, value, said):
    import re

    data = {"max_results": "5", "similarity_threshold": "0.25", field: value}
    page = user_client.post(reverse("accounts:retrieval"), data).content.decode()
    # Two at once: "Ensure this value is less than or equal to 32767." and "Between 1 and 50 passages.".
    assert re.findall(r'<p class="error" role="alert">(.*?)</p>', page) == [said]


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["", "\x00", "\r", " \u200b "], ids=["empty", "nul", "cr", "zero-width"])
def test_a_search_for_nothing_visible_is_no_search(user_client, query):
    response = user_client.get(reverse("conversations:search"), {"q": query})
    page = response.content.decode()
    # A NUL or a CR alone showed an empty results area; an empty box said nothing either.
    assert response.status_code == 200 and "Nothing matches" not in page
    assert "Type a word or two to find the chats whose title or messages hold them." in page
    assert 'name="q" value=""' in page


@pytest.mark.django_db
def test_the_search_box_its_label_and_its_page_all_say_chats(user_client):
    chats = user_client.get(reverse("conversations:index")).content.decode()
    assert 'for="chat-search">Search your chats</label>' in chats and 'placeholder="Search chats"' in chats
    page = user_client.get(reverse("conversations:search")).content.decode()
    assert "<h1>Search your chats</h1>" in page and "Search your conversations" not in page


@pytest.mark.django_db
def test_a_key_used_a_moment_ago_was_used_just_now(user, user_client):
    import datetime as dt

    from django.utils import timezone

    from accounts.models import ProviderKey
    from accounts.services import SYSTEM, provider_key_save
    from chatbot.templatetags.when import ago

    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-0000000000001234", client=SYSTEM)
    ProviderKey.objects.filter(user=user).update(last_used_at=timezone.now())
    page = user_client.get(reverse("accounts:keys")).content.decode()
    assert '<td data-label="Last used">just now</td>' in page and "0\xa0minutes" not in page
    assert ago(timezone.now() - dt.timedelta(minutes=3, seconds=5)) == "3\xa0minutes ago"
    assert ago(timezone.now() + dt.timedelta(seconds=20)) == "just now"  # a clock a little ahead
    assert ago(None) == ""


TITLE_CASE = r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)+\b"


def main_text(page: str) -> str:
    import re

    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    return re.sub(r"<[^>]+>", " ", page.split("<main", 1)[1].split("</main>", 1)[0]) + " " + title


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["mfa_index", "mfa_activate_totp", "mfa_generate_recovery_codes"])
def test_the_two_factor_pages_write_in_sentence_case_like_the_rest_of_the_app(client, name):
    import re

    from tests.test_accounts_auth import PASSWORD, verified_user

    client.force_login(verified_user())
    client.post(reverse("account_reauthenticate"), {"password": PASSWORD})  # the MFA pages ask for it first
    response = client.get(reverse(name))
    page = response.content.decode()
    assert response.status_code == 200 and "<main" in page
    # "Authenticator App", "Recovery Codes", "Activate Authenticator App".
    assert re.findall(TITLE_CASE, main_text(page)) == []


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["account_login", "account_signup", "account_change_password"])
def test_allauths_form_labels_have_no_colon_like_the_apps_other_forms(client, name):
    import re

    from tests.test_accounts_auth import verified_user

    if name == "account_change_password":
        client.force_login(verified_user())
    page = client.get(reverse(name)).content.decode()
    labels = re.findall(r"<label[^>]*>(.*?)</label>", page, re.S)
    # "Email:", "Password (again):" where Preferences says "Default system prompt".
    assert labels and not [label for label in labels if label.strip().endswith(":")]
