"""Every provider of the seeds answers: OpenAI and the OpenAI-compatible ones through the openai SDK, Gemini through
google-genai, each against a fake speaking its real streaming protocol; their typed errors, keys (resolution order,
audit, the test button), the models offered, and the network policy for base URLs typed by users."""

from __future__ import annotations

import asyncio

import pytest
from django.urls import reverse

from accounts.models import KeyAuditLog, ProviderKey
from accounts.selectors import offered_models
from accounts.services import SYSTEM, provider_credentials, provider_key_save
from chatbot.llm.anthropic import AnthropicProvider
from chatbot.llm.base import ChatRequest, PromptMessage, ProviderError
from chatbot.llm.catalog import PROVIDERS
from chatbot.llm.http import close_http_clients
from chatbot.llm.openai import OpenAICompatibleProvider
from chatbot.llm.providers import complete_text
from conversations.generation import resolve_provider
from conversations.models import Message, UsageLog
from tests.factories import ConversationFactory, UserFactory
from tests.fake_openai import OLLAMA_MODELS
from tests.test_chat_streaming import reply_of, send, start_chat

OPENAI_COMPATIBLE = [
    ("openai", "gpt-5.5"),
    ("xai", "grok-4"),
    ("groq", "llama-3.3-70b-versatile"),
    ("deepseek", "deepseek-chat"),
    ("mistral", "mistral-large-latest"),
    ("perplexity", "sonar-pro"),
]


def with_key(user, provider: str, key: str | None = None, config: dict | None = None):
    provider_key_save(
        user=user, provider=provider, api_key=key or f"key-{provider}-0123456789-abcd", client=SYSTEM, config=config
    )
    return user


def stream_all(provider, text: str, *, system: str = "") -> tuple[str, ProviderError | None]:
    """Everything a provider streams for one question, run as the server would (its own loop and pools)."""

    async def run() -> tuple[str, ProviderError | None]:
        parts, error = [], None
        try:
            async for event in provider.stream(
                ChatRequest(model="m", messages=[PromptMessage("user", text)], system=system)
            ):
                parts.append(getattr(event, "text", ""))
        except ProviderError as exc:
            error = exc
        finally:
            await close_http_clients()
        return "".join(parts), error

    return asyncio.run(run())


# --- Each provider answers, through the live app ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("provider", "model"), OPENAI_COMPATIBLE)
def test_each_openai_compatible_provider_answers_through_its_own_endpoint(live_client, fake_openai, provider, model):
    client = live_client(with_key(UserFactory(), provider, key=f"key-{provider}-0123456789-w9xz"))
    fake_openai.behaviour.reply = "Paris is the capital of **France**."
    conversation, url = start_chat(client, "What is the capital of France?")
    assert (conversation.provider, conversation.model) == (provider, model), "a new chat uses the usable provider"
    events = list(client.events(url))
    assert "".join(e.data for e in events if e.event == "delta") == "Paris is the capital of **France**."
    assert events[-1].event == "done" and "<strong>France</strong>" in events[-1].data
    request = fake_openai.requests[-1]
    assert request["path"] == f"/{provider}/v1/chat/completions"
    assert request["authorization"] == f"Bearer key-{provider}-0123456789-w9xz"
    body = request["body"]
    assert (body["model"], body["stream"], body["messages"][-1]) == (
        model, True, {"role": "user", "content": "What is the capital of France?"},
    )  # fmt: skip
    spec = PROVIDERS[provider]
    assert body.get("stream_options") == ({"include_usage": True} if spec.stream_usage_option else None)
    assert spec.token_limit_param in body, "OpenAI's reasoning models refuse max_tokens; the others know only it"
    message = reply_of(conversation)
    assert (message.status, message.provider, message.model) == ("complete", provider, model)
    assert message.content == "Paris is the capital of **France**."
    if spec.stream_usage_option:  # the usage chunk, after the finish reason
        assert message.output_tokens == 6 and message.input_tokens > 0
        usage = UsageLog.objects.get(message=message)
        assert (usage.provider, usage.input_tokens, usage.output_tokens) == (provider, message.input_tokens, 6)
    assert message.provider_metadata["id"].startswith("chatcmpl-")
    assert KeyAuditLog.objects.filter(user=client.user, provider=provider, action="use", success=True).count() == 1


@pytest.mark.slow
def test_gemini_answers_through_the_google_sdk(live_client, fake_gemini):
    client = live_client(with_key(UserFactory(), "google", key="AIza-test-0123456789-gem1"))
    fake_gemini.behaviour.reply = "Paris is the capital of **France**."
    conversation, url = start_chat(client, "What is the capital of France?")
    assert (conversation.provider, conversation.model) == ("google", "gemini-3.1-pro-preview")
    list(client.events(url))  # the first reply ends before the next message is sent (else: 409, still replying)
    client.post(f"/c/{conversation.id}/settings/", {"model": "gemini-3.8-flash", "system_prompt": "Be brief."})
    _, url = send(client, conversation, f"/c/{conversation.id}/messages/", {"content": "And of Italy?"})
    events = list(client.events(url))
    assert "".join(e.data for e in events if e.event == "delta") == "Paris is the capital of **France**."
    request = fake_gemini.requests[-1]
    assert request["path"] == "/v1/models/gemini-3.8-flash:streamGenerateContent?alt=sse"
    assert request["key"] == "AIza-test-0123456789-gem1"
    assert request["body"]["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert [(c["role"], c["parts"][0]["text"]) for c in request["body"]["contents"]] == [
        ("user", "What is the capital of France?"),
        ("model", "Paris is the capital of **France**."),
        ("user", "And of Italy?"),
    ]
    message = reply_of(conversation)
    assert (message.status, message.provider, message.model) == ("complete", "google", "gemini-3.8-flash")
    assert (message.output_tokens, message.input_tokens) == (6, 19)  # usageMetadata of the last event
    assert KeyAuditLog.objects.filter(user=client.user, provider="google", action="use", success=True).count() == 2


@pytest.mark.slow
def test_a_users_own_ollama_server_lists_its_models_and_answers(live_client, fake_openai):
    client = live_client(UserFactory())
    response = client.post(
        "/settings/keys/", {"provider": "ollama", "api_key": "", "base_url": fake_openai.base_url("ollama")}, htmx=False
    )
    assert response.status_code == 302, response.text
    key = ProviderKey.objects.get(user=client.user, provider="ollama")
    assert key.config == {"base_url": fake_openai.base_url("ollama"), "models": OLLAMA_MODELS}, "tested on save"
    conversation, url = start_chat(client, "Hello Ollama")
    assert (conversation.provider, conversation.model) == ("ollama", OLLAMA_MODELS[0])
    bubble, _, preview = list(client.events(url))[-1].data.partition("<span hidden data-sidebar-preview")
    assert bubble.count("You said: Hello Ollama") == 1, "the reply once, whole"
    assert 'data-text="You said: Hello Ollama"' in preview, "and the chat's sidebar preview after it"
    request = fake_openai.requests[-1]
    assert request["path"] == "/ollama/v1/chat/completions" and request["body"]["model"] == OLLAMA_MODELS[0]
    assert reply_of(conversation).status == "complete"


# --- Errors: typed, explained, partial text kept, Retry offered ------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("[[429]]", "rate limiting"),
        ("[[500]]", "returned an error"),
        ("[[503]]", "overloaded"),
        ("[[too-long]]", "too long for the model"),
    ],
)
def test_openai_http_errors_are_explained_and_retryable(live_client, marker, expected):
    client = live_client(with_key(UserFactory(), "openai"))
    conversation, url = start_chat(client, f"Hello {marker}")
    done = list(client.events(url))[-1]
    assert done.event == "done" and expected in done.data and "Retry" in done.data
    message = reply_of(conversation)
    assert (message.status, message.content) == ("failed", "") and expected in message.error
    use = KeyAuditLog.objects.get(user=client.user, action="use")
    assert use.success is False and use.error_message, "a failed call is audited as failed, with the reason"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("[[midstream]]", "returned an error"),  # an error object in the stream
        ("[[drop]]", "Could not reach the provider"),  # the connection cut
        ("[[truncate]]", "broke off"),  # the body ended without a finish reason: not saved as complete
        ("[[garbage]]", "could not be read"),  # a data line that is not JSON
    ],
)
def test_an_openai_stream_failing_midway_keeps_the_partial_text_and_offers_retry(live_client, marker, expected):
    client = live_client(with_key(UserFactory(), "openai"))
    conversation, url = start_chat(client, f"one two three four five six {marker}")
    events = list(client.events(url))
    assert "".join(e.data for e in events if e.event == "delta") == "You said: one"
    assert expected in events[-1].data and "Retry" in events[-1].data
    message = reply_of(conversation)
    assert (message.status, message.content) == ("failed", "You said: one") and expected in message.error


@pytest.mark.slow
def test_a_refused_openai_key_is_named_and_linked_and_its_use_audited_as_failed(live_client):
    client = live_client(with_key(UserFactory(), "openai", key="sk-revoked-0123456789-w9xz"))
    key = client.user.provider_keys.get()
    conversation, url = start_chat(client, "Hello?")
    done = list(client.events(url))[-1].data
    assert "rejected the API key" in done and "It was your OpenAI key" in done and "…w9xz" in done
    assert f'href="/settings/keys/#key-{key.id}"' in done
    use = KeyAuditLog.objects.get(user=client.user, action="use")
    assert use.success is False and "authentication" in use.error_message and "401" in use.error_message
    assert reply_of(conversation).metadata["failure"]["provider"] == "openai"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("key", "marker", "partial", "expected"),
    [
        ("AIza-revoked-0123456789", "", "", "rejected the API key"),  # Gemini's 400 API_KEY_INVALID
        ("AIza-test-0123456789", "[[429]]", "", "rate limiting"),
        ("AIza-test-0123456789", "[[503]]", "", "overloaded"),
        ("AIza-test-0123456789", "[[too-long]]", "", "too long for the model"),
        ("AIza-test-0123456789", "[[midstream]]", "You said: one", "overloaded"),
        ("AIza-test-0123456789", "[[drop]]", "You said: one", "Could not reach the provider"),
        ("AIza-test-0123456789", "[[truncate]]", "You said: one", "broke off"),
    ],
)
def test_gemini_errors_are_typed_and_keep_the_partial_text(live_client, key, marker, partial, expected):
    client = live_client(with_key(UserFactory(), "google", key=key))
    conversation, url = start_chat(client, f"one two three four five six {marker}")
    events = list(client.events(url))
    assert "".join(e.data for e in events if e.event == "delta") == partial
    assert expected in events[-1].data and "Retry" in events[-1].data
    message = reply_of(conversation)
    assert (message.status, message.content) == ("failed", partial) and expected in message.error
    assert KeyAuditLog.objects.get(user=client.user, action="use").success is False


def test_an_anthropic_stream_ending_without_message_stop_is_not_saved_as_complete(fake_anthropic):
    provider = AnthropicProvider(api_key="sk-ant-test-0123456789", base_url=fake_anthropic.url)
    text, error = stream_all(provider, "one two three four five six [[truncate]]")
    assert text == "You said: one"
    assert error is not None and error.kind == ProviderError.MALFORMED


# --- Keys: resolution order, audit, the test button -------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["openai", "google", "xai"])
def test_the_users_active_key_comes_first_then_the_operators(settings, fake_openai, fake_gemini, provider):
    user = UserFactory()
    setattr(settings, f"{provider.upper()}_API_KEY", "operator-key-0123456789")
    operator = provider_credentials(user=user, provider=provider, client=SYSTEM)
    assert (operator.api_key, operator.key, operator.user_base_url) == ("operator-key-0123456789", None, False)
    assert not KeyAuditLog.objects.filter(user=user).exists(), "the operator's key is not the user's to audit"
    with_key(user, provider, key="users-own-key-0123456789")
    own = provider_credentials(user=user, provider=provider, client=SYSTEM)
    assert own.api_key == "users-own-key-0123456789" and own.key is not None
    assert own.base_url == (getattr(settings, f"{provider.upper()}_BASE_URL") or None)
    assert KeyAuditLog.objects.get(user=user, action="use").id == own.key.audit_id
    ProviderKey.objects.filter(user=user).update(is_active=False)
    assert provider_credentials(user=user, provider=provider, client=SYSTEM).api_key == "operator-key-0123456789"
    setattr(settings, f"{provider.upper()}_API_KEY", "")
    assert provider_credentials(user=user, provider=provider, client=SYSTEM) is None


@pytest.mark.django_db
def test_a_conversation_on_a_provider_without_any_key_says_so(fake_openai):
    conversation = ConversationFactory(provider="xai", model="grok-4")
    provider, name, error, key = resolve_provider(conversation=conversation, client=SYSTEM)
    assert (provider, name, error.kind, key) == (None, "xai", ProviderError.NO_KEY, None)


@pytest.mark.django_db
@pytest.mark.parametrize("provider", ["openai", "xai", "groq", "deepseek", "mistral", "perplexity", "google"])
def test_the_test_button_works_for_every_provider(user_client, user, fake_openai, fake_gemini, provider):
    with_key(user, provider, key=f"good-{provider}-0123456789")
    key = ProviderKey.objects.get(user=user)
    url = reverse("accounts:key_test", args=[key.id])
    assert "The key works." in user_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    with_key(user, provider, key=f"revoked-{provider}-0123456789")
    page = user_client.post(url, HTTP_HX_REQUEST="true").content.decode()
    assert f"{PROVIDERS[provider].label} rejected this key" in page
    tests = KeyAuditLog.objects.filter(user=user, action="test").order_by("created_at")
    assert [t.success for t in tests] == [True, False] and "rejected" in tests[1].error_message


@pytest.mark.django_db
def test_the_keys_page_no_longer_says_not_supported(user_client):
    page = user_client.get(reverse("accounts:keys")).content.decode()
    assert "not supported" not in page.lower()
    for label in ("Anthropic", "OpenAI", "Google", "xAI", "Groq", "DeepSeek", "Mistral", "Perplexity"):
        assert f">{label}</option>" in page


@pytest.mark.django_db
def test_suggestions_use_the_users_provider_and_audit_a_failed_call(user_client, user, fake_openai):
    from documents.models import Document, Suggestion
    from tests.factories import DocumentFactory, DocumentVersionFactory

    with_key(user, "openai")
    document = DocumentFactory(owner=user, source=Document.Source.MANUAL)
    DocumentVersionFactory(document=document, number=1, content="The quick brwon fox.")
    fake_openai.behaviour.reply = '[{"original_text": "brwon", "suggested_text": "brown", "description": "Typo."}]'
    user_client.post(reverse("documents:suggest", args=[document.id]))
    assert Suggestion.objects.get().suggested_text == "brown"
    assert fake_openai.requests[-1]["path"] == "/openai/v1/chat/completions"
    fake_openai.behaviour.fail = "500"
    user_client.post(reverse("documents:suggest", args=[document.id]))
    uses = KeyAuditLog.objects.filter(user=user, action="use").order_by("created_at")
    assert [use.success for use in uses] == [True, False]


# --- The models offered -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_only_models_of_usable_providers_are_offered_and_picking_one_switches_the_provider(
    user_client, user, settings, fake_openai
):
    settings.ANTHROPIC_API_KEY = ""
    chat = ConversationFactory(user=user, provider="offline", model="offline")
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    assert 'value="openai:gpt-5.5"' not in page and 'value="anthropic:claude-sonnet-5-5"' not in page
    url = reverse("conversations:settings", args=[chat.id])
    assert user_client.post(url, {"model": "grok-4"}).status_code == 400, "no xAI key: not offered, not accepted"
    with_key(user, "xai")
    settings.OPENAI_API_KEY = "operator-openai-key"  # the operator's key makes OpenAI everyone's
    page = user_client.get(reverse("conversations:detail", args=[chat.id])).content.decode()
    assert 'value="xai:grok-4"' in page and 'value="openai:gpt-5.5"' in page
    assert 'value="anthropic:claude-sonnet-5-5"' not in page
    assert user_client.post(url, {"model": "grok-4"}).status_code == 302
    chat.refresh_from_db()
    assert (chat.provider, chat.model) == ("xai", "grok-4")


@pytest.mark.django_db
def test_a_new_conversation_uses_the_preferred_model_when_usable(user, settings, fake_openai):
    from accounts.services import preferences_get
    from conversations.services import conversation_create

    settings.ANTHROPIC_API_KEY = ""
    with_key(user, "openai")
    preferences = preferences_get(user=user)
    preferences.default_model = "gpt-4.1"
    preferences.save()
    conversation = conversation_create(user=user)
    assert (conversation.provider, conversation.model) == ("openai", "gpt-4.1")
    preferences.default_model = "grok-4"  # no xAI key: the first usable provider's first model
    preferences.save()
    conversation = conversation_create(user=user)
    assert (conversation.provider, conversation.model) == ("openai", "gpt-5.5")


@pytest.mark.django_db
def test_the_operators_ollama_offers_what_its_server_lists_and_answers(settings, fake_openai):
    from django.core.cache import cache

    cache.clear()
    settings.OLLAMA_BASE_URL = fake_openai.base_url("ollama")
    user = UserFactory()
    assert [(m.provider, m.id) for m in offered_models(user=user)] == [("ollama", name) for name in OLLAMA_MODELS]
    conversation = ConversationFactory(user=user, provider="ollama", model=OLLAMA_MODELS[0])
    provider, name, error, key = resolve_provider(conversation=conversation, client=SYSTEM)
    assert (name, error, key) == ("ollama", None, None)
    assert provider.base_url == fake_openai.base_url("ollama") + "/v1" and not provider.user_base_url
    reply = complete_text(provider, ChatRequest(model=OLLAMA_MODELS[0], messages=[PromptMessage("user", "Hi")]))
    assert reply == "You said: Hi"
    assert fake_openai.requests[-1]["path"] == "/ollama/v1/chat/completions"


@pytest.mark.django_db
def test_an_unreachable_ollama_offers_nothing_and_is_not_asked_on_every_page(settings, fake_openai, monkeypatch):
    import httpx
    from django.core.cache import cache

    cache.clear()
    settings.OLLAMA_BASE_URL = "http://127.0.0.1:9"
    asked = []
    real_get = httpx.get
    monkeypatch.setattr(httpx, "get", lambda *args, **kwargs: asked.append(args) or real_get(*args, **kwargs))
    user = UserFactory()
    assert offered_models(user=user) == [] and offered_models(user=user) == []
    assert len(asked) == 1, "the failure is remembered for a few seconds"


# --- Base URLs typed by users: the network policy ---------------------------------------------------------------


@pytest.mark.django_db
def test_without_the_operators_permission_no_base_url_can_be_set(user_client, user, settings):
    settings.ALLOW_USER_BASE_URLS = False
    page = user_client.get(reverse("accounts:keys")).content.decode()
    assert 'name="base_url"' not in page and 'value="ollama"' not in page
    data = {"provider": "openai", "api_key": "sk-test-0123456789", "base_url": "http://169.254.169.254/v1"}
    assert user_client.post(reverse("accounts:keys"), data).status_code == 302
    assert ProviderKey.objects.get(user=user).config == {}, "the field does not exist: nothing of it is kept"
    data = {"provider": "ollama", "base_url": "http://127.0.0.1:11434"}
    assert user_client.post(reverse("accounts:keys"), data).status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),  # the cloud metadata service
        ("http://127.0.0.1:6379/", "a loopback address"),  # Redis on the same host
        ("http://localhost:8000/", "a loopback address"),  # a name, resolved
        ("http://10.0.0.5/v1", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://[::1]:8000/", "a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address"),  # IPv4 wrapped in IPv6
        ("http://[fe80::1]/", "a link-local address"),
        ("http://100.64.0.1/", "a reserved address"),  # carrier-grade NAT, not public
        ("http://0.0.0.0:8000/", "an unspecified address"),
        ("ftp://files.example.com/", "must start with http:// or https://"),
        ("https://user:secret@api.example.com/v1", "must not contain a user name or password"),
        ("https://no-such-host.invalid/v1", "could not be found"),
    ],
)
def test_a_base_url_into_the_servers_own_network_is_refused_with_the_reason(user_client, user, settings, url, why):
    settings.ALLOW_USER_BASE_URLS = True
    settings.USER_BASE_URL_ALLOWED_HOSTS = []
    data = {"provider": "openai", "api_key": "sk-test-0123456789", "base_url": url}
    response = user_client.post(reverse("accounts:keys"), data)
    assert response.status_code == 400
    assert why in response.content.decode()
    assert not ProviderKey.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "url",
    ["http://2130706433/", "http://127.1/", "http://0x7f000001/", "http://[::ffff:7f00:1]/", "http://[2002:7f00:1::]/"],
)
def test_odd_spellings_of_an_internal_address_are_refused_too(settings, url):
    """Forms the form's URL field may refuse first, or may not: the policy does not count on it."""
    from chatbot.netpolicy import BaseUrlRefused, check_user_base_url

    settings.ALLOW_USER_BASE_URLS = True
    settings.USER_BASE_URL_ALLOWED_HOSTS = []
    with pytest.raises(BaseUrlRefused, match="loopback"):
        check_user_base_url(url)


@pytest.mark.django_db
@pytest.mark.parametrize("allowed", ["127.0.0.1", "127.0.0.0/8", "localhost"])
def test_a_host_the_operator_lists_is_accepted(user_client, user, settings, fake_openai, allowed):
    settings.ALLOW_USER_BASE_URLS = True
    settings.USER_BASE_URL_ALLOWED_HOSTS = [allowed]
    host = "localhost" if allowed == "localhost" else "127.0.0.1"
    base_url = f"http://{host}:{fake_openai.port}/openai/v1"
    data = {"provider": "openai", "api_key": "sk-test-0123456789", "base_url": base_url}
    assert user_client.post(reverse("accounts:keys"), data).status_code == 302
    key = ProviderKey.objects.get(user=user)
    assert key.config["base_url"] == base_url and key.config["models"], "saved, tested at once, its models kept"


@pytest.mark.slow
def test_a_saved_base_url_is_checked_again_when_the_key_is_used(live_client, fake_openai):
    # Saved when it was allowed (or pointed elsewhere); it is refused now, before anything is sent.
    client = live_client(with_key(UserFactory(), "openai", key="sk-test-0123456789-w9xz",
                                  config={"base_url": "http://10.255.0.1:8080/v1"}))  # fmt: skip
    key = client.user.provider_keys.get()
    conversation, url = start_chat(client, "Hello?")
    done = list(client.events(url))[-1].data
    assert "does not allow the base URL" in done and "a private address" in done
    assert "…w9xz" in done and f'href="/settings/keys/#key-{key.id}"' in done
    assert fake_openai.requests == []
    use = KeyAuditLog.objects.get(user=client.user, action="use")
    assert use.success is False and "base_url_refused" in use.error_message
    assert reply_of(conversation).metadata["failure"]["kind"] == "base_url_refused"


@pytest.mark.django_db
def test_a_base_url_is_refused_at_call_time_once_the_operator_withdraws_permission(settings, fake_openai):
    settings.ALLOW_USER_BASE_URLS = True
    settings.USER_BASE_URL_ALLOWED_HOSTS = ["127.0.0.1"]
    user = with_key(UserFactory(), "openai", config={"base_url": fake_openai.base_url("openai")})
    conversation = ConversationFactory(user=user, provider="openai", model="gpt-5.5")
    provider, _, error, key = resolve_provider(conversation=conversation, client=SYSTEM)
    assert error is None and provider.user_base_url, "allowed: reached through the guarded connections"
    settings.ALLOW_USER_BASE_URLS = False
    provider, _, error, key = resolve_provider(conversation=conversation, client=SYSTEM)
    assert provider is None and error.kind == ProviderError.BASE_URL_REFUSED and key is not None
    assert "not allow custom base URLs" in error.user_message
    uses = KeyAuditLog.objects.filter(user=user, action="use").order_by("created_at")
    assert [use.success for use in uses] == [True, False]


def test_a_name_that_resolves_inside_is_refused_as_the_connection_is_made(settings, fake_openai):
    """DNS rebinding: the name passed the call-time check, then resolves to an internal address. The guarded
    connection resolves it again, itself, and refuses before a socket opens."""
    settings.ALLOW_USER_BASE_URLS = True
    settings.USER_BASE_URL_ALLOWED_HOSTS = []
    provider = OpenAICompatibleProvider(
        api_key="sk-test-0123456789", base_url=f"http://localhost:{fake_openai.port}/openai/v1", user_base_url=True
    )
    text, error = stream_all(provider, "Hello")
    assert text == "" and error.kind == ProviderError.BASE_URL_REFUSED and "loopback" in error.detail
    assert fake_openai.requests == []
    trusted = OpenAICompatibleProvider(api_key="sk-test-0123456789", base_url=provider.base_url)
    assert stream_all(trusted, "Hello") == ("You said: Hello", None), "the operator's URLs are not guarded"


def test_a_guarded_connection_does_not_follow_a_redirect(settings, fake_openai):
    settings.ALLOW_USER_BASE_URLS = True
    settings.USER_BASE_URL_ALLOWED_HOSTS = ["127.0.0.1"]
    fake_openai.redirect_to = f"http://localhost:{fake_openai.port}"  # somewhere the user could not point it
    provider = OpenAICompatibleProvider(
        api_key="sk-test-0123456789", base_url=f"{fake_openai.url}/redirect/openai/v1", user_base_url=True
    )
    text, error = stream_all(provider, "Hello")
    assert text == "" and error is not None and "307" in error.detail
    assert fake_openai.requests == [], "the redirect was not followed"


@pytest.mark.django_db
def test_the_failure_bubble_names_providers_as_people_write_them():
    from conversations.generation import render_reply

    failure = {"kind": "authentication", "provider": "xai", "guest": False, "key_id": "k", "key_hint": "abcd"}
    message = Message.objects.create(
        conversation=ConversationFactory(), role="assistant", status="failed", metadata={"failure": failure},
        error="The provider rejected the API key.",
    )  # fmt: skip
    assert "your xAI key" in render_reply(message)


@pytest.mark.parametrize("chunk", [[1, 2], "text", {"choices": "none"}, {"choices": [{"delta": {"content": 3}}]}])
def test_a_data_line_that_is_json_but_not_a_chunk_is_a_malformed_stream(chunk):
    from chatbot.llm.openai import _read_chunk

    with pytest.raises(ProviderError) as raised:
        _read_chunk(chunk, "openai")
    assert raised.value.kind == ProviderError.MALFORMED


def test_replies_on_one_key_and_endpoint_share_an_sdk_client_per_event_loop(monkeypatch, fake_openai):
    """A new SDK client works out its platform headers in a worker thread on its first request: kept from reply to
    reply, that thread hop happens once per key and loop, not once per reply."""
    from chatbot.llm import http

    monkeypatch.setattr(http, "SDK_CLIENTS_PER_LOOP", 2)
    url = fake_openai.base_url("openai")

    async def run() -> None:
        try:
            provider = OpenAICompatibleProvider(name="openai", api_key="key-a", base_url=url)

            def client(sdk: str = "openai", key: str = "key-a", guarded: bool = False):
                return http.sdk_client(sdk, api_key=key, base_url=url, guarded=guarded, timeout=provider.timeout)

            first = client()
            assert first._platform is None
            async for _ in provider.stream(ChatRequest(model="m", messages=[PromptMessage("user", "hi")])):
                pass
            assert client() is first
            assert first._platform is not None  # worked out once, for every later reply on this key
            assert len({id(first), id(client(key="key-b")), id(client(guarded=True))}) == 3
            # Past SDK_CLIENTS_PER_LOOP the least recently used goes: key-a's trusted client here.
            assert client() is not first
            assert type(client("anthropic")).__name__ == "AsyncAnthropic"
        finally:
            await close_http_clients()

    asyncio.run(run())
