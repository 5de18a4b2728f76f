"""The providers this app can call and the models it knows for each, in one place.

`PROVIDERS` says, for each provider of seed 002's enum, which protocol it speaks (the module that calls it), where
the operator's key and endpoint come from, and the models offered for it. The model catalogue table (issue 14,
later) is meant to be seeded from `KNOWN_MODELS` by a data migration; until it exists, these lists are what the
app offers. Ollama's models are read from the server itself (`ollama_models`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownModel:
    provider: str
    id: str
    label: str
    context_window: int | None = None


@dataclass(frozen=True)
class ProviderSpec:
    name: str  # accounts.models.Provider's value
    label: str
    protocol: str  # "anthropic", "openai" (chat completions) or "google" (Gemini): the module that calls it
    needs_key: bool = True
    # OpenAI-compatible servers differ in small ways: whether they accept stream_options.include_usage (every one
    # here sends usage in the last chunk anyway), and what the reply's length limit is called (OpenAI's reasoning
    # models refuse `max_tokens`).
    stream_usage_option: bool = True
    token_limit_param: str = "max_tokens"

    @property
    def operator_key(self) -> str:
        return getattr(settings, f"{self.name.upper()}_API_KEY", "") or ""

    @property
    def operator_base_url(self) -> str:
        return self.api_url(getattr(settings, f"{self.name.upper()}_BASE_URL", "") or "")

    def api_url(self, url: str) -> str:
        """The endpoint the SDK is given for a base URL as written (Ollama's server address becomes its /v1)."""
        return ollama_api_url(url) if self.name == "ollama" and url else url

    @property
    def operator_configured(self) -> bool:
        """The operator lets everyone use this provider (their key, or for Ollama, its address)."""
        return bool(self.operator_base_url if not self.needs_key else self.operator_key)


PROVIDERS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("anthropic", "Anthropic", "anthropic"),
        ProviderSpec("openai", "OpenAI", "openai", token_limit_param="max_completion_tokens"),
        ProviderSpec("google", "Google", "google"),
        ProviderSpec("xai", "xAI", "openai"),
        ProviderSpec("groq", "Groq", "openai"),
        ProviderSpec("deepseek", "DeepSeek", "openai"),
        # Mistral's API validates its parameters strictly and has no stream_options; it sends usage regardless.
        ProviderSpec("mistral", "Mistral", "openai", stream_usage_option=False),
        ProviderSpec("perplexity", "Perplexity", "openai"),
        ProviderSpec("ollama", "Ollama", "openai", needs_key=False),
    )
}

# The current models of each provider as its SDK or documentation names them (aliases that follow the newest
# version where the provider has them). Anthropic's are those its SDK lists (see chatbot/llm/anthropic.py).
# A context window is given only where the provider documents it for that exact id; the catalogue fills the rest.
KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("anthropic", "claude-sonnet-5-5", "Claude Sonnet 5.5"),
    KnownModel("anthropic", "claude-opus-5-5", "Claude Opus 5.5"),
    KnownModel("anthropic", "claude-haiku-5-5", "Claude Haiku 5.5"),
    KnownModel("openai", "gpt-5.5", "GPT-5.5"),
    KnownModel("openai", "gpt-5.4-mini", "GPT-5.4 mini"),
    KnownModel("openai", "gpt-5.4-nano", "GPT-5.4 nano"),
    KnownModel("openai", "gpt-4.1", "GPT-4.1", 1_047_576),
    KnownModel("google", "gemini-3.1-pro-preview", "Gemini 3.1 Pro (preview)"),
    KnownModel("google", "gemini-3.8-flash", "Gemini 3.8 Flash"),
    KnownModel("google", "gemini-3.1-flash-lite", "Gemini 3.1 Flash-Lite"),
    KnownModel("xai", "grok-4", "Grok 4"),
    KnownModel("xai", "grok-3-mini", "Grok 3 mini"),
    KnownModel("groq", "llama-3.3-70b-versatile", "Llama 3.3 70B (Groq)", 131_072),
    KnownModel("groq", "openai/gpt-oss-120b", "GPT-OSS 120B (Groq)"),
    KnownModel("deepseek", "deepseek-chat", "DeepSeek Chat"),
    KnownModel("deepseek", "deepseek-reasoner", "DeepSeek Reasoner"),
    KnownModel("mistral", "mistral-large-latest", "Mistral Large"),
    KnownModel("mistral", "mistral-small-latest", "Mistral Small"),
    KnownModel("perplexity", "sonar-pro", "Sonar Pro (Perplexity)"),
    KnownModel("perplexity", "sonar", "Sonar (Perplexity)"),
)


def known_models(provider: str) -> list[KnownModel]:
    if provider == "ollama":
        return ollama_models()
    return [model for model in KNOWN_MODELS if model.provider == provider]


def provider_of_known_model(model: str) -> str | None:
    """The provider a listed model belongs to (Ollama's excepted: they are not listed here)."""
    return next((known.provider for known in KNOWN_MODELS if known.id == model), None)


# --- Ollama -------------------------------------------------------------------------------------------------


def ollama_api_url(url: str) -> str:
    """Ollama's OpenAI-compatible endpoint (…/v1), whether the operator wrote the server's address or that."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def ollama_root(url: str) -> str:
    return url.rstrip("/").removesuffix("/v1")


OLLAMA_MODELS_TTL = 60  # seconds: a model pulled on the server shows up within a minute
OLLAMA_DOWN_TTL = 15  # a server that did not answer is asked again this soon, not on every page


def ollama_models() -> list[KnownModel]:
    """The models the operator's Ollama server has (its /api/tags), cached briefly; none when it is unreachable.

    Only the operator's server (OLLAMA_BASE_URL, trusted) is asked here, from a page view, with a short timeout.
    """
    base = settings.OLLAMA_BASE_URL
    if not base:
        return []
    cache_key = f"ollama-models:{ollama_root(base)}"
    cached = cache.get(cache_key)
    if cached is not None:
        return [KnownModel("ollama", model_id, f"{model_id} (Ollama)") for model_id in cached]
    try:
        response = httpx.get(ollama_root(base) + "/api/tags", timeout=2.0)
        response.raise_for_status()
        names = sorted({str(m["name"]) for m in response.json().get("models", []) if m.get("name")})[:200]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as exc:
        logger.warning("Ollama at %s did not list its models: %s", ollama_root(base), exc)
        cache.set(cache_key, [], OLLAMA_DOWN_TTL)
        return []
    cache.set(cache_key, names, OLLAMA_MODELS_TTL)
    return [KnownModel("ollama", model_id, f"{model_id} (Ollama)") for model_id in names]


# The small, cheap model of each provider that names a conversation after its first reply (issue 14's titles).
# A provider left out (Ollama: whatever the server has; the offline assistant) gets the question's first words.
TITLE_MODELS: dict[str, str] = {
    "anthropic": "claude-haiku-5-5",
    "openai": "gpt-5.4-nano",
    "google": "gemini-3.1-flash-lite",
    "xai": "grok-3-mini",
    "groq": "llama-3.3-70b-versatile",
    "deepseek": "deepseek-chat",
    "mistral": "mistral-small-latest",
    "perplexity": "sonar",
}
