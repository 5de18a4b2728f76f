"""Conversations started before the catalogue kept the default 8,192-token window whatever their model (a 1M-token
Claude conversation left out its older turns past 8k): they take their model's window from the catalogue."""

from django.db import migrations

OLD_DEFAULT = 8192


def follow_catalogue(apps, schema_editor):
    ChatModel = apps.get_model("catalog", "ChatModel")
    Conversation = apps.get_model("conversations", "Conversation")
    for entry in ChatModel.objects.exclude(context_window=None).exclude(context_window=OLD_DEFAULT):
        Conversation.objects.filter(
            provider=entry.provider, model=entry.model_id, context_window_size=OLD_DEFAULT
        ).update(context_window_size=entry.context_window)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_seed_models"), ("conversations", "0004_usage_cost")]

    operations = [migrations.RunPython(follow_catalogue, migrations.RunPython.noop, elidable=True)]
