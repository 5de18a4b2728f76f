"""The catalogue's first rows: every model of chatbot/llm/catalog.py's KNOWN_MODELS, with what it can do and costs.

Prices are the providers' published list prices per million tokens (standard tier, no caching, no batch) as of
October 2026; a price left out (None) is unknown, and replies on that model are logged without a cost until the
operator fills it in the admin. Aliases that move from one generation to the next at very different prices
(Mistral's `-latest`) have none. Context windows are the documented ones, or a safe lower bound where the alias
moves (a window too small only leaves out older turns sooner).

Loaded by the data migration catalog/0002 and, on a database whose catalogue is empty, after `migrate` or `flush`
(catalog/apps.py). A model added to KNOWN_MODELS later comes with a data migration of its own (or the admin).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Details:
    context_window: int | None = None
    input_price: str | None = None
    output_price: str | None = None
    long_context_threshold: int | None = None
    long_input_price: str | None = None
    long_output_price: str | None = None
    vision: bool = False
    documents: bool = False
    tools: bool = False
    reasoning: bool = False


FRONTIER = {"vision": True, "documents": True, "tools": True, "reasoning": True}

DETAILS: dict[tuple[str, str], Details] = {
    ("anthropic", "claude-sonnet-5-5"): Details(1_000_000, "2", "10", **FRONTIER),
    ("anthropic", "claude-opus-5-5"): Details(1_000_000, "4", "20", **FRONTIER),
    ("anthropic", "claude-haiku-5-5"): Details(1_000_000, "0.10", "0.50", 100_000, "0.50", "2.50", **FRONTIER),
    ("openai", "gpt-5.5"): Details(1_050_000, "5", "30", 272_000, "10", "45", **FRONTIER),
    ("openai", "gpt-5.4-mini"): Details(400_000, "0.75", "4.50", **FRONTIER),
    ("openai", "gpt-5.4-nano"): Details(400_000, "0.20", "1.25", **FRONTIER),
    ("openai", "gpt-4.1"): Details(1_047_576, "2", "8", vision=True, documents=True, tools=True),
    ("google", "gemini-3.1-pro-preview"): Details(1_048_576, "2", "12", 200_000, "4", "18", **FRONTIER),
    ("google", "gemini-3.8-flash"): Details(1_048_576, "0.75", "3.75", **FRONTIER),
    ("google", "gemini-3.1-flash-lite"): Details(1_048_576, "0.25", "1.50", **FRONTIER),
    ("xai", "grok-4"): Details(256_000, "3", "15", 128_000, "6", "30", vision=True, tools=True, reasoning=True),
    ("xai", "grok-3-mini"): Details(131_072, "0.30", "0.50", tools=True, reasoning=True),
    ("groq", "llama-3.3-70b-versatile"): Details(131_072, "0.59", "0.79", tools=True),
    ("groq", "openai/gpt-oss-120b"): Details(131_072, tools=True, reasoning=True),
    ("deepseek", "deepseek-chat"): Details(131_072, "0.28", "0.42", tools=True),
    ("deepseek", "deepseek-reasoner"): Details(131_072, "0.28", "0.42", tools=True, reasoning=True),
    ("mistral", "mistral-large-latest"): Details(131_072, vision=True, tools=True),
    ("mistral", "mistral-small-latest"): Details(131_072, vision=True, tools=True),
    ("perplexity", "sonar-pro"): Details(200_000, "3", "15"),
    ("perplexity", "sonar"): Details(128_000, "1", "1"),
}


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def seed_rows() -> list[dict]:
    """The catalogue rows for KNOWN_MODELS, in its order (which the menus keep within each provider)."""
    from chatbot.llm.catalog import KNOWN_MODELS

    rows = []
    for position, known in enumerate(KNOWN_MODELS):
        details = DETAILS.get((known.provider, known.id), Details())
        rows.append(
            {
                "provider": known.provider,
                "model_id": known.id,
                "display_name": known.label,
                "context_window": details.context_window or known.context_window,
                "input_price": _decimal(details.input_price),
                "output_price": _decimal(details.output_price),
                "long_context_threshold": details.long_context_threshold,
                "long_input_price": _decimal(details.long_input_price),
                "long_output_price": _decimal(details.long_output_price),
                "supports_vision": details.vision,
                "supports_documents": details.documents,
                "supports_tools": details.tools,
                "supports_reasoning": details.reasoning,
                "position": position,
            }
        )
    return rows


def load_seed(chat_model: type, *, using: str = "default") -> int:
    """Insert the seed rows the catalogue lacks (by provider and model id); rows already there are left alone."""
    rows = chat_model.objects.using(using)
    before = rows.count()
    # ignore_conflicts: the returned list holds every row passed, inserted or not; the count tells.
    rows.bulk_create([chat_model(**row) for row in seed_rows()], ignore_conflicts=True)
    return rows.count() - before


def reseed_when_empty(sender, *, using: str = "default", apps=None, **kwargs) -> None:
    """post_migrate: an empty catalogue (a flushed database) gets the seed again. To offer none of the seeded
    models, disable them rather than delete them."""
    try:
        chat_model = apps.get_model("catalog", "ChatModel") if apps is not None else None
    except LookupError:  # migrated back to before the catalogue existed
        return
    if chat_model is None:
        from catalog.models import ChatModel as chat_model
    if not chat_model.objects.using(using).exists():
        load_seed(chat_model, using=using)
