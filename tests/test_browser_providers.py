"""Providers as a person meets them in chromium: adding their own Ollama server on the keys page (an address inside
the server's network refused, with the reason, next to the field), chatting with it, and the bubble of a reply
whose key points somewhere the server will not go, linking to that key."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import ProviderKey
from accounts.services import SYSTEM, provider_key_save
from tests.factories import UserFactory
from tests.fake_openai import OLLAMA_MODELS
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def signed_in_page(new_page, live_app, user, *, width: int = 1280):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    return page


@pytest.mark.parametrize("width", [1280, 375])
def test_add_an_ollama_server_then_chat_with_it(new_page, live_app, fake_openai, width):
    user = UserFactory()
    page = signed_in_page(new_page, live_app, user, width=width)
    page.goto("/settings/keys/")
    page.get_by_label("Provider").select_option("ollama")

    # The cloud metadata service: refused, and the field says why.
    page.get_by_label("Base URL (optional)").fill("http://169.254.169.254/latest/")
    page.get_by_role("button", name="Save key").click()
    error = page.locator(".field.has-error .error")
    expect(error).to_contain_text("leads to a link-local address")
    assert not ProviderKey.objects.filter(user=user).exists()

    page.get_by_label("Provider").select_option("ollama")
    page.get_by_label("Base URL (optional)").fill(fake_openai.base_url("ollama"))
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_text("Ollama server saved.")).to_be_visible()
    expect(page.get_by_text(f"It lists {len(OLLAMA_MODELS)} models")).to_be_visible()
    expect(page.locator("table tr", has_text="Ollama")).to_contain_text(fake_openai.base_url("ollama"))
    assert not scrolls_sideways(page), (
        "the keys page must not scroll sideways (its table scrolls on its own, hidden labels and all)"
    )

    fake_openai.behaviour.tokens = [" Hello", " from", " your", " own", " Ollama."]
    fake_openai.behaviour.token_delay = 0.05
    page.goto("/c/")
    box = page.get_by_role("textbox", name="Your message")
    box.fill("Who are you?")
    box.press("Enter")
    reply = page.locator(".message-assistant").last
    expect(reply).to_contain_text("Hello from your own Ollama.")
    expect(reply).to_contain_text(OLLAMA_MODELS[0])  # the bubble says which model wrote it
    assert fake_openai.requests[-1]["path"] == "/ollama/v1/chat/completions"


def test_a_reply_refused_for_its_keys_base_url_links_to_that_key(new_page, live_app, fake_openai):
    user = UserFactory()
    provider_key_save(
        user=user, provider="openai", api_key="sk-test-browser-0123-w9xz", client=SYSTEM,
        config={"base_url": "http://10.20.30.40/v1"},
    )  # fmt: skip
    key = ProviderKey.objects.get(user=user)
    page = signed_in_page(new_page, live_app, user)
    page.goto("/c/")
    box = page.get_by_role("textbox", name="Your message")
    box.fill("Hello?")
    box.press("Enter")
    alert = page.get_by_role("alert").filter(has_text="does not allow the base URL")
    expect(alert).to_contain_text("a private address")
    expect(alert).to_contain_text("your OpenAI key …w9xz")
    alert.get_by_role("link", name=re.compile("Settings → API keys")).click()
    page.wait_for_url(re.compile(rf"/settings/keys/#key-{key.id}$"))
    expect(page.locator(f"#key-{key.id}")).to_contain_text("http://10.20.30.40/v1")
    assert fake_openai.requests == []
