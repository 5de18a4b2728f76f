"""The ASGI entry point's process tuning (chatbot/asgi.py), read off a fresh interpreter that imports it."""

import json
import subprocess
import sys

from tests.processes import BASE_DIR, child_environment

PROBE = """
import gc, json, sys
import chatbot.asgi
print(json.dumps({
    "frozen": gc.get_freeze_count(),
    "young_threshold": gc.get_threshold()[0],
    "switch_interval": sys.getswitchinterval(),
    "views_imported": "conversations.views" in sys.modules,
    "providers_imported": all(
        f"chatbot.llm.{name}" in sys.modules for name in ("anthropic", "openai", "google", "keys")
    ),
}))
"""


def test_startup_heap_is_frozen_with_the_views_and_providers_and_young_collections_are_rarer():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=child_environment(), cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    tuning = json.loads(result.stdout.splitlines()[-1])

    assert tuning["views_imported"], "the URLconf is loaded before freezing, so lazily imported views are frozen too"
    assert tuning["providers_imported"], "so are the providers' SDKs: no reply waits on their import"
    assert tuning["frozen"] > 100_000  # Django, the views and the SDK's types: left out of every full collection
    assert tuning["young_threshold"] == 10_000
    assert tuning["switch_interval"] == 0.001


URLCONF_PROBE = """
import json, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
print(json.dumps(sorted(name for name in ("anthropic", "openai", "google.genai") if name in sys.modules)))
"""


def test_loading_the_urlconf_does_not_import_the_provider_sdks():
    """Every `manage.py` command loads the URLconf (its system checks); the SDKs took seconds of each one's start."""
    result = subprocess.run(
        [sys.executable, "-c", URLCONF_PROBE],
        env=child_environment(DJANGO_SETTINGS_MODULE="chatbot.settings"),
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == []
