"""Conversations and preferences on a previous-generation Claude model move to its family's current one.

Sonnet 4.5 reaches end of life on 2026-11-30 and Opus 4.1 is no longer offered: a conversation left on either
would fail every reply. Messages keep the model that actually wrote them.
"""

from django.db import migrations

SUCCESSORS = {
    "claude-sonnet-4-5": "claude-sonnet-5-5",
    "claude-sonnet-4-5-20250929": "claude-sonnet-5-5",
    "claude-opus-4-1": "claude-opus-5-5",
    "claude-opus-4-1-20250805": "claude-opus-5-5",
}  # Haiku 4.5 is still served: conversations on it stay (and it stays selectable for them).


def move_to_current_models(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Preferences = apps.get_model("accounts", "Preferences")
    for old, new in SUCCESSORS.items():
        Conversation.objects.filter(model=old).update(model=new)
        Preferences.objects.filter(default_model=old).update(default_model=new)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0002_active_leaf"),
        ("accounts", "0002_retrieval_threshold_default"),
    ]

    operations = [migrations.RunPython(move_to_current_models, migrations.RunPython.noop, elidable=True)]
