"""The model catalogue (issue 14): seeded from chatbot/llm/catalog.py, edited in the admin, and the source of each
model's context window and prices; every reply's cost in exact decimals."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.selectors import offered_models
from catalog.models import DEFAULT_CONTEXT_WINDOW, ChatModel
from catalog.seed import DETAILS, load_seed, reseed_when_empty
from catalog.selectors import context_window_for, is_free_model, reply_cost
from chatbot.llm.catalog import KNOWN_MODELS
from conversations.models import Message, Stream, UsageLog
from conversations.services import GenerationOutcome, conversation_create, generation_finish
from tests.factories import ConversationFactory, MessageFactory, StreamFactory, UserFactory
from tests.fake_openai import OLLAMA_MODELS

pytestmark = pytest.mark.django_db


def entry(provider: str, model: str) -> ChatModel:
    return ChatModel.objects.get(provider=provider, model_id=model)


# --- The seed ---------------------------------------------------------------------------------------------------


def test_the_data_migration_seeds_every_known_model_in_its_order_with_its_prices():
    rows = list(ChatModel.objects.order_by("position"))
    assert [(row.provider, row.model_id) for row in rows] == [(m.provider, m.id) for m in KNOWN_MODELS]
    assert set(DETAILS) == {(m.provider, m.id) for m in KNOWN_MODELS}, "every known model has its details"
    sonnet = entry("anthropic", "claude-sonnet-5-5")
    assert (sonnet.display_name, sonnet.context_window) == ("Claude Sonnet 5.5", 1_000_000)
    assert (sonnet.input_price, sonnet.output_price) == (Decimal("2.0000"), Decimal("10.0000"))
    assert sonnet.supports_vision and sonnet.supports_documents and sonnet.supports_tools and sonnet.supports_reasoning
    assert entry("openai", "gpt-4.1").context_window == 1_047_576, "what catalog.py documents is kept"
    assert not entry("openai", "gpt-4.1").supports_reasoning
    mistral = entry("mistral", "mistral-large-latest")
    assert mistral.input_price is None and mistral.output_price is None, "an alias whose price moves: unknown"


def test_the_seed_adds_only_what_is_missing_and_comes_back_after_a_flush():
    sonnet = entry("anthropic", "claude-sonnet-5-5")
    sonnet.input_price = Decimal("9")
    sonnet.save()
    entry("openai", "gpt-4.1").delete()
    assert load_seed(ChatModel) == 1, "only the deleted row comes back"
    assert entry("anthropic", "claude-sonnet-5-5").input_price == Decimal("9"), "an edited row is left alone"

    reseed_when_empty(sender=None)
    assert ChatModel.objects.count() == len(KNOWN_MODELS), "a catalogue with rows is not reseeded"
    ChatModel.objects.all().delete()  # what a flush does to it
    reseed_when_empty(sender=None)
    assert ChatModel.objects.count() == len(KNOWN_MODELS)


# --- Cost arithmetic --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model", "input_tokens", "output_tokens", "expected"),
    [
        # (1,234 × $2 + 567 × $10) / 1,000,000
        ("anthropic", "claude-sonnet-5-5", 1_234, 567, Decimal("0.008138")),
        # (3 × $0.20 + 1 × $1.25) / 1,000,000 = 0.00000185: to the millionth, half up
        ("openai", "gpt-5.4-nano", 3, 1, Decimal("0.000002")),
        ("openai", "gpt-5.4-nano", 1, 1, Decimal("0.000001")),  # 0.00000145
        ("openai", "gpt-5.4-nano", 0, 0, Decimal("0.000000")),
        # GPT-5.5 bills a prompt over 272,000 tokens at $10 / $45, the whole request
        ("openai", "gpt-5.5", 272_000, 1_000, Decimal("1.390000")),  # 272,000 × 5 + 1,000 × 30
        ("openai", "gpt-5.5", 272_001, 1_000, Decimal("2.765010")),  # 272,001 × 10 + 1,000 × 45
        ("google", "gemini-3.1-pro-preview", 200_001, 10, Decimal("0.800184")),  # × 4 and × 18
        ("anthropic", "claude-haiku-5-5", 100_000, 2_000, Decimal("0.011000")),  # 100,000 × 0.10 + 2,000 × 0.50
        # A million of each at Opus's $4 / $20: exactly $24
        ("anthropic", "claude-opus-5-5", 1_000_000, 1_000_000, Decimal("24.000000")),
    ],
)
def test_the_cost_of_a_reply_is_exact_decimal_arithmetic(provider, model, input_tokens, output_tokens, expected):
    cost = reply_cost(provider=provider, model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    assert isinstance(cost, Decimal) and cost == expected and cost.as_tuple().exponent == -6


def test_unknown_prices_cost_nothing_known_and_free_models_cost_zero():
    assert reply_cost(provider="mistral", model="mistral-large-latest", input_tokens=10, output_tokens=10) is None
    assert reply_cost(provider="openai", model="my-own-finetune", input_tokens=10, output_tokens=10) is None
    assert reply_cost(provider="offline", model="offline", input_tokens=0, output_tokens=40) == 0
    assert reply_cost(provider="ollama", model="llama3.2:latest", input_tokens=900, output_tokens=40) == 0
    ChatModel.objects.create(
        provider="ollama", model_id="llama3.2:latest", display_name="Llama", input_price=1, output_price=2
    )
    assert reply_cost(provider="ollama", model="llama3.2:latest", input_tokens=1_000_000, output_tokens=0) == 1
    assert is_free_model(provider="offline", model="offline") and is_free_model(provider="ollama", model="qwen3:8b")
    assert not is_free_model(provider="mistral", model="mistral-large-latest"), "an unknown price is not free"
    assert not is_free_model(provider="openai", model="gpt-5.5")


def test_a_long_context_tier_needs_its_threshold_and_both_prices():
    from django.core.exceptions import ValidationError

    row = ChatModel(provider="openai", model_id="x", display_name="X", long_input_price=1)
    with pytest.raises(ValidationError):
        row.clean()
    row = ChatModel(provider="openai", model_id="x", display_name="X", long_context_threshold=10, long_input_price=1)
    with pytest.raises(ValidationError):
        row.clean()


def finish(stream: Stream, **outcome) -> Message:
    defaults = {"text": "Done.", "status": Message.Status.COMPLETE, "provider": "anthropic"}
    return generation_finish(stream_id=stream.id, outcome=GenerationOutcome(**{**defaults, **outcome}))


def test_finishing_a_reply_logs_its_cost_and_who_paid(user):
    conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
    question = MessageFactory(conversation=conversation, role="user")
    for own_key in (False, True):
        reply = MessageFactory(conversation=conversation, role="assistant", parent=question, status="streaming")
        stream = StreamFactory(message=reply, conversation=conversation)
        message = finish(stream, model="claude-sonnet-5-5", input_tokens=1_234, output_tokens=567, own_key=own_key)
        usage = UsageLog.objects.get(message=message)
        assert (usage.cost, usage.own_key, usage.user_id) == (Decimal("0.008138"), own_key, user.id)


def test_a_price_changed_in_the_catalogue_prices_the_next_reply_not_the_past_ones(user):
    conversation = ConversationFactory(user=user, provider="openai", model="gpt-4.1")
    question = MessageFactory(conversation=conversation, role="user")
    first = StreamFactory(
        message=MessageFactory(conversation=conversation, role="assistant", parent=question, status="streaming"),
        conversation=conversation,
    )
    finish(first, provider="openai", model="gpt-4.1", input_tokens=1_000_000, output_tokens=0)
    ChatModel.objects.filter(provider="openai", model_id="gpt-4.1").update(input_price=Decimal("1.5"))
    second = StreamFactory(
        message=MessageFactory(conversation=conversation, role="assistant", parent=question, status="streaming"),
        conversation=conversation,
    )
    finish(second, provider="openai", model="gpt-4.1", input_tokens=1_000_000, output_tokens=0)
    assert list(UsageLog.objects.order_by("created_at").values_list("cost", flat=True)) == [Decimal(2), Decimal("1.5")]


# --- Context windows and what is offered ------------------------------------------------------------------------


def test_a_conversation_is_fitted_to_its_models_context_window(user, settings):
    settings.OPENAI_API_KEY = "operator-openai-key"
    conversation = conversation_create(user=user, model="openai:gpt-4.1")
    assert (conversation.provider, conversation.model, conversation.context_window_size) == (
        "openai", "gpt-4.1", 1_047_576,
    )  # fmt: skip
    assert context_window_for(provider="openai", model="a-model-the-catalogue-lacks") == DEFAULT_CONTEXT_WINDOW
    assert conversation_create(user=user, model="offline").context_window_size == DEFAULT_CONTEXT_WINDOW


def test_the_catalogue_decides_what_is_offered_a_disabled_row_hides_a_model(user, settings):
    settings.OPENAI_API_KEY = "operator-openai-key"
    offered = [(m.provider, m.id, m.label) for m in offered_models(user=user)]
    assert offered[:4] == [
        ("openai", "gpt-5.5", "GPT-5.5"), ("openai", "gpt-5.4-mini", "GPT-5.4 mini"),
        ("openai", "gpt-5.4-nano", "GPT-5.4 nano"), ("openai", "gpt-4.1", "GPT-4.1"),
    ]  # fmt: skip
    ChatModel.objects.filter(provider="openai", model_id="gpt-5.5").update(enabled=False)
    ChatModel.objects.create(provider="openai", model_id="o9-preview", display_name="o9 preview", position=0)
    ids = [m.id for m in offered_models(user=user)]
    assert "gpt-5.5" not in ids and ids[0] == "o9-preview", "an admin's row is offered, in its position"


def test_ollama_offers_what_its_server_lists_named_or_hidden_by_catalogue_rows(settings, fake_openai):
    from django.core.cache import cache

    cache.clear()
    settings.OLLAMA_BASE_URL = fake_openai.base_url("ollama")
    user = UserFactory()
    assert [m.id for m in offered_models(user=user)] == OLLAMA_MODELS
    assert not ChatModel.objects.filter(provider="ollama").exists(), "listed, not stored"
    ChatModel.objects.create(provider="ollama", model_id=OLLAMA_MODELS[0], display_name="Llama 3.2", enabled=False)
    ChatModel.objects.create(
        provider="ollama", model_id=OLLAMA_MODELS[1], display_name="Qwen 3 (8B)", context_window=40_960
    )
    assert [(m.id, m.label, m.context_window) for m in offered_models(user=user)] == [
        (OLLAMA_MODELS[1], "Qwen 3 (8B)", 40_960)
    ]


# --- The admin --------------------------------------------------------------------------------------------------


def test_the_catalogue_is_edited_in_the_admin(admin_client):
    url = reverse("admin:catalog_chatmodel_changelist")
    page = admin_client.get(url).content.decode()
    assert "Claude Sonnet 5.5" in page and "GPT-4.1" in page
    assert admin_client.get(url, {"q": "gemini", "provider__exact": "google"}).status_code == 200
    row = entry("mistral", "mistral-small-latest")
    change = reverse("admin:catalog_chatmodel_change", args=[row.pk])
    assert admin_client.get(change).status_code == 200
    data = {
        "provider": "mistral", "model_id": "mistral-small-latest", "display_name": "Mistral Small", "enabled": "on",
        "position": "17", "context_window": "131072", "input_price": "0.1", "output_price": "0.3",
        "long_context_threshold": "", "long_input_price": "", "long_output_price": "", "supports_tools": "on",
    }  # fmt: skip
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    cost = reply_cost(provider="mistral", model="mistral-small-latest", input_tokens=10**6, output_tokens=10**6)
    assert cost == Decimal("0.4"), "the next reply is priced as edited"
    response = admin_client.post(change, {**data, "input_price": "-1"})
    assert response.status_code == 200 and not entry("mistral", "mistral-small-latest").input_price < 0
    assert admin_client.get(reverse("admin:catalog_chatmodel_add")).status_code == 200


def test_conversations_from_before_the_catalogue_take_their_models_window():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("catalog.migrations.0003_conversations_follow_their_model")
    claude = ConversationFactory(provider="anthropic", model="claude-sonnet-5-5", context_window_size=8192)
    chosen = ConversationFactory(provider="anthropic", model="claude-sonnet-5-5", context_window_size=32_000)
    unknown = ConversationFactory(provider="openai", model="my-finetune", context_window_size=8192)
    offline = ConversationFactory(provider="offline", model="offline", context_window_size=8192)

    migration.follow_catalogue(apps, None)

    for conversation in (claude, chosen, unknown, offline):
        conversation.refresh_from_db()
    assert claude.context_window_size == 1_000_000
    assert (chosen.context_window_size, unknown.context_window_size, offline.context_window_size) == (
        32_000, 8192, 8192,
    )  # fmt: skip


def test_a_disabled_model_is_never_a_new_conversations_default(user, settings):
    settings.ANTHROPIC_API_KEY = "sk-ant-operator-key"
    settings.ANTHROPIC_DEFAULT_MODEL = "claude-opus-5-5"
    assert (conversation_create(user=user).provider, conversation_create(user=user).model) == (
        "anthropic", "claude-opus-5-5",
    )  # fmt: skip
    ChatModel.objects.filter(provider="anthropic", model_id="claude-opus-5-5").update(enabled=False)
    assert conversation_create(user=user).model == "claude-sonnet-5-5", "the first enabled one instead"
