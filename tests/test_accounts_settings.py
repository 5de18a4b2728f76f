"""Settings pages: preferences and theme, document search, tool approval, and what guests may see."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AutoApprovalSettings, Preferences, RetrievalSettings
from tests import factories

pytestmark = pytest.mark.django_db
HTML_THEME = re.compile(r'<html\b[^>]*\bdata-theme="([a-z]+)"')


def theme_of(response) -> str:
    assert response.status_code == 200
    match = HTML_THEME.search(response.content.decode())
    assert match, "every page carries its theme on <html>"
    return match.group(1)


def preferences_data(**overrides) -> dict:
    data = {
        "theme": "system",
        "layout": "sidebar",
        "default_model": "",
        "default_system_prompt": "",
        "email_notifications": "on",
        "prompt_suggestions": "on",
        "show_tool_invocations": "on",
        "conversation_previews": "on",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- Preferences and theme ---------------------------------------------------------------------------------


def test_saving_preferences_applies_the_theme_to_every_page(user_client, user, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-operator-key"  # the default model is picked among the usable ones
    assert theme_of(user_client.get(reverse("accounts:preferences"))) == "system"
    response = user_client.post(
        reverse("accounts:preferences"),
        preferences_data(
            theme="dark", layout="fullscreen", default_model="anthropic:claude-haiku-5-5", email_notifications=None
        ),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("accounts:preferences")
    assert "Preferences saved." in response.content.decode()
    prefs = Preferences.objects.get(user=user)
    assert (prefs.theme, prefs.layout, prefs.default_model) == ("dark", "fullscreen", "anthropic:claude-haiku-5-5")
    assert prefs.email_notifications is False and prefs.prompt_suggestions is True

    for url in (
        reverse("accounts:preferences"),
        reverse("accounts:retrieval"),
        reverse("accounts:keys"),
        reverse("accounts:sessions"),
        reverse("account_email"),
        reverse("account_change_password"),
        reverse("mfa_index"),
    ):
        assert theme_of(user_client.get(url)) == "dark", url
    page = user_client.get(reverse("accounts:keys")).content.decode()
    assert 'aria-label="Colour theme: dark, change it"' in page


def test_the_theme_is_per_user(client, user):
    factories.PreferencesFactory(user=user, theme="dark")
    assert theme_of(client.get(reverse("account_login"))) == "system", "anonymous visitors get the default"
    client.force_login(factories.UserFactory())
    assert theme_of(client.get(reverse("accounts:preferences"))) == "system"


def test_an_invalid_preference_is_refused(user_client, user):
    factories.PreferencesFactory(user=user, theme="light")
    response = user_client.post(reverse("accounts:preferences"), preferences_data(theme="neon"))
    assert response.status_code == 400
    assert "Select a valid choice. neon is not one of the available choices." in response.content.decode()
    assert Preferences.objects.get(user=user).theme == "light"


def test_the_theme_toggle_persists_the_choice(user_client, user):
    response = user_client.post(reverse("accounts:theme"), {"theme": "light"})
    assert response.status_code == 204
    assert Preferences.objects.get(user=user).theme == "light"
    assert theme_of(user_client.get(reverse("accounts:sessions"))) == "light"

    response = user_client.post(reverse("accounts:theme"), {"theme": "dark"})
    assert response.status_code == 204
    assert Preferences.objects.get(user=user).theme == "dark"


@pytest.mark.parametrize("value", ["purple", "", "DARK"])
def test_an_unknown_theme_is_a_400(user_client, user, value):
    factories.PreferencesFactory(user=user, theme="dark")
    response = user_client.post(reverse("accounts:theme"), {"theme": value})
    assert response.status_code == 400
    assert response.content == b"Unknown theme."
    assert Preferences.objects.get(user=user).theme == "dark"


def test_the_theme_toggle_only_accepts_post(user_client, user):
    assert user_client.get(reverse("accounts:theme"), {"theme": "light"}).status_code == 405
    assert not Preferences.objects.filter(user=user).exists()


def test_anonymous_visitors_keep_the_theme_in_their_browser(client):
    assert client.post(reverse("accounts:theme"), {"theme": "dark"}).status_code == 204
    assert not Preferences.objects.exists()


# --- Document search -----------------------------------------------------------------------------------------


def test_retrieval_settings_are_saved_and_sources_split(user_client, user):
    response = user_client.post(
        reverse("accounts:retrieval"),
        {
            "enabled": "on",
            "max_results": "12",
            "similarity_threshold": "0.35",
            "preferred_sources": " Handbook,Release notes ,, ,FAQ ",
            "excluded_sources": "shared",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("accounts:retrieval")
    assert "Document search saved." in response.content.decode()
    saved = RetrievalSettings.objects.get(user=user)
    assert saved.enabled is True and saved.max_results == 12 and saved.similarity_threshold == pytest.approx(0.35)
    assert saved.preferred_sources == ["Handbook", "Release notes", "FAQ"]
    assert saved.excluded_sources == ["shared"]
    page = response.content.decode()
    assert 'value="Handbook, Release notes, FAQ"' in page, "shown again as the comma-separated text"


def test_a_title_with_commas_is_kept_whole_in_the_title_lists(user_client, user):
    # SQLite's "Quirks, Caveats, and Gotchas In SQLite" was cut into three titles that named no document.
    quirks = "Quirks, Caveats, and Gotchas In SQLite"
    factories.DocumentFactory(owner=user, title=quirks)
    factories.DocumentFactory(owner=None, title="Over a Network, Caveats and Considerations")
    data = {"enabled": "on", "max_results": "5", "similarity_threshold": "0.25"}
    user_client.post(
        reverse("accounts:retrieval"),
        {
            **data,
            "preferred_sources": "FAQ, Quirks,  Caveats, and Gotchas In SQLite,Release notes",
            "excluded_sources": "Over a Network, Caveats and Considerations, Old, notes",
        },
    )
    saved = RetrievalSettings.objects.get(user=user)
    assert saved.preferred_sources == ["FAQ", quirks, "Release notes"]
    assert saved.excluded_sources == ["Over a Network, Caveats and Considerations", "Old", "notes"]
    # Shown back comma-separated, the list saves again as it was.
    page = user_client.get(reverse("accounts:retrieval")).content.decode()
    assert 'value="FAQ, Quirks, Caveats, and Gotchas In SQLite, Release notes"' in page
    user_client.post(reverse("accounts:retrieval"), {**data, "preferred_sources": f"FAQ, {quirks}, Release notes"})
    assert RetrievalSettings.objects.get(user=user).preferred_sources == ["FAQ", quirks, "Release notes"]


def test_a_default_system_prompt_has_a_conversations_limit_and_long_source_lists_are_refused(user_client, user):
    # 50,000 characters were saved as the default, and then every new chat's settings refused to save.
    response = user_client.post(reverse("accounts:preferences"), preferences_data(default_system_prompt="x" * 10_001))
    assert response.status_code == 400
    assert "That system prompt is too long (10,001 characters; the limit is 10,000)." in response.content.decode()
    assert not Preferences.objects.filter(user=user, default_system_prompt__startswith="x").exists()
    assert 'data-limit="10000"' in user_client.get(reverse("accounts:preferences")).content.decode()
    user_client.post(reverse("accounts:preferences"), preferences_data(default_system_prompt="  Be brief  "))
    assert Preferences.objects.get(user=user).default_system_prompt == "Be brief"

    data = {"enabled": "on", "max_results": "5", "similarity_threshold": "0.25", "excluded_sources": ""}
    response = user_client.post(reverse("accounts:retrieval"), {**data, "preferred_sources": "a" * 50_000})
    assert response.status_code == 400 and "characters long at most; this one has 50000." in response.content.decode()
    user_client.post(reverse("accounts:retrieval"), {**data, "preferred_sources": "b" * 400 + ", Handbook"})
    assert RetrievalSettings.objects.get(user=user).preferred_sources == ["b" * 300, "Handbook"]


def test_unticking_enabled_turns_retrieval_off(user_client, user):
    user_client.post(reverse("accounts:retrieval"), {"max_results": "5", "similarity_threshold": "0"})
    saved = RetrievalSettings.objects.get(user=user)
    assert saved.enabled is False and saved.preferred_sources == [] and saved.excluded_sources == []


def test_out_of_range_retrieval_settings_are_refused_with_readable_errors(user_client, user):
    factories.RetrievalSettingsFactory(user=user, max_results=7, preferred_sources=["Kept"])
    response = user_client.post(
        reverse("accounts:retrieval"),
        {"enabled": "on", "max_results": "500", "similarity_threshold": "2", "preferred_sources": "Changed"},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Between 1 and 50 passages." in page
    assert "A similarity between 0 and 1." in page
    assert "Traceback" not in page and "IntegrityError" not in page
    saved = RetrievalSettings.objects.get(user=user)
    assert (saved.max_results, saved.similarity_threshold, saved.preferred_sources) == (7, 0.25, ["Kept"])


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("max_results", "0", "Between 1 and 50 passages."),
        ("max_results", "51", "Between 1 and 50 passages."),
        ("max_results", "-3", "Between 1 and 50 passages."),
        ("max_results", "99999999999999999999", "Between 1 and 50 passages."),
        ("similarity_threshold", "-0.1", "A similarity between 0 and 1."),
        ("similarity_threshold", "abc", "A similarity between 0 and 1."),
    ],
)
def test_each_retrieval_bound_is_checked(user_client, user, field, value, error):
    data = {"max_results": "5", "similarity_threshold": "0.2", field: value}
    response = user_client.post(reverse("accounts:retrieval"), data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not RetrievalSettings.objects.filter(user=user, similarity_threshold=0.2).exists()


# --- Tool approval -------------------------------------------------------------------------------------------


def test_auto_approval_settings_are_saved(user_client, user):
    response = user_client.post(
        reverse("accounts:tools"),
        {"read_only_operations": "on", "max_cost_per_tool": "0.25", "max_cost_per_hour": "3.5"},
    )
    assert response.status_code == 302
    saved = AutoApprovalSettings.objects.get(user=user)
    assert saved.read_only_operations is True and saved.low_risk_operations is False
    assert saved.require_approval_for_new_tools is False, "an unticked box is saved as off"
    assert (saved.max_cost_per_tool, saved.max_cost_per_hour) == (Decimal("0.25"), Decimal("3.5"))


def test_the_cost_limits_say_they_are_dollars_and_show_as_money(user_client):
    """The model's column keeps four places: the page showed "Max cost per tool: 1.0000", with no unit."""
    page = user_client.get(reverse("accounts:tools")).content.decode()
    assert "Cost limit per call (US$)" in page and "Cost limit per hour (US$)" in page
    assert 'value="1.00"' in page and 'value="10.00"' in page and "1.0000" not in page
    user_client.post(reverse("accounts:tools"), {"max_cost_per_tool": "0.0025", "max_cost_per_hour": "3.5"})
    page = user_client.get(reverse("accounts:tools")).content.decode()
    assert 'value="0.0025"' in page and 'value="3.50"' in page, "a price finer than a cent keeps its places"


def test_a_negative_cost_limit_is_refused(user_client, user):
    response = user_client.post(reverse("accounts:tools"), {"max_cost_per_tool": "-1", "max_cost_per_hour": "5"})
    assert response.status_code == 400
    assert "A cost limit cannot be negative." in response.content.decode()
    saved = AutoApprovalSettings.objects.get(user=user)  # created with the defaults by the page
    assert (saved.max_cost_per_tool, saved.max_cost_per_hour) == (Decimal("1.00"), Decimal("10.00"))


def test_a_per_tool_limit_above_the_hourly_limit_is_refused(user_client, user):
    response = user_client.post(reverse("accounts:tools"), {"max_cost_per_tool": "20", "max_cost_per_hour": "5"})
    assert response.status_code == 400
    assert "The limit per call cannot exceed the limit per hour." in response.content.decode()
    saved = AutoApprovalSettings.objects.get(user=user)
    assert (saved.max_cost_per_tool, saved.max_cost_per_hour) == (Decimal("1.00"), Decimal("10.00"))


# --- Guests and anonymous visitors ---------------------------------------------------------------------------


def test_guests_see_only_preferences_and_feedback_in_the_settings_nav(client):
    client.force_login(factories.GuestFactory())
    page = client.get(reverse("accounts:preferences")).content.decode()
    nav = page[page.index('<nav class="settings-nav"') : page.index("</nav>", page.index('<nav class="settings-nav"'))]
    assert re.findall(r'<a href="([^"]+)"', nav) == [reverse("accounts:preferences"), reverse("accounts:feedback")]
    for hidden in ("Document search", "API keys", "Sessions", "Delete account", "Two-factor"):
        assert hidden not in nav
    assert "Sign up to keep your chats" in page


def test_registered_users_see_every_settings_section(user_client):
    page = user_client.get(reverse("accounts:preferences")).content.decode()
    for name in (
        "accounts:retrieval",
        "accounts:tools",
        "accounts:keys",
        "accounts:sessions",
        "accounts:delete_account",
    ):
        assert f'href="{reverse(name)}"' in page, name


def test_guests_can_save_preferences(client):
    guest = factories.GuestFactory()
    client.force_login(guest)
    response = client.post(reverse("accounts:preferences"), preferences_data(theme="dark"))
    assert response.status_code == 302
    assert Preferences.objects.get(user=guest).theme == "dark"


@pytest.mark.parametrize(
    "name",
    ["accounts:keys", "accounts:sessions", "accounts:retrieval", "accounts:tools", "accounts:audit_log"],
)
def test_guests_are_sent_to_sign_up_from_registered_only_pages(client, name):
    guest = factories.GuestFactory()
    client.force_login(guest)
    response = client.get(reverse(name), follow=True)
    assert response.redirect_chain == [(reverse("account_signup"), 302)]
    assert (
        "Sign up to use this: a guest can chat and set preferences, but documents, API keys and the other settings "
        "need an account." in response.content.decode()
    )
    assert not RetrievalSettings.objects.filter(user=guest).exists()


@pytest.mark.parametrize("name", ["accounts:preferences", "accounts:keys", "accounts:sessions", "accounts:retrieval"])
def test_anonymous_visitors_are_sent_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url == f"{reverse('account_login')}?next={reverse(name)}"


def test_two_factor_setup_renders_in_the_app_layout(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    page = client.get("/accounts/2fa/").content.decode()
    assert "Two-Factor" in page or "two-factor" in page.lower()
    assert 'class="settings-nav"' in page and "/static/css/app.css" in page
