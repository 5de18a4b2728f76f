"""Checking that an API key works, per provider."""

from __future__ import annotations

import anthropic
from django.conf import settings


def verify_key(*, provider: str, api_key: str, config: dict) -> tuple[bool, str]:
    """(True, message) when the provider accepts the key; (False, why) otherwise. Never raises."""
    if provider != "anthropic":
        return False, "Testing keys for this provider is not supported yet; the key is stored and can be used later."
    client = anthropic.Anthropic(
        api_key=api_key,
        base_url=config.get("base_url") or settings.ANTHROPIC_BASE_URL or None,
        max_retries=0,
        timeout=10,
    )
    try:
        client.models.list(limit=1)
    except anthropic.AuthenticationError:
        return False, "Anthropic rejected this key (401). Check that it was copied whole and is still active."
    except anthropic.PermissionDeniedError:
        return False, "Anthropic accepted the key but refused access (403)."
    except anthropic.RateLimitError:
        return True, "The key is valid, but Anthropic is rate limiting it right now."
    except anthropic.APIConnectionError:
        return False, "Could not reach Anthropic to test the key. Try again later."
    except anthropic.APIStatusError as exc:
        return False, f"Anthropic answered with an error ({exc.status_code}) while testing the key."
    return True, "The key works."
