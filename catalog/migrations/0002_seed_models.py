"""The catalogue's first rows: the models of chatbot/llm/catalog.py with their prices and capabilities
(catalog/seed.py)."""

from django.db import migrations


def seed(apps, schema_editor):
    from catalog.seed import load_seed

    load_seed(apps.get_model("catalog", "ChatModel"), using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    # Backwards: the table goes with 0001; nothing to undo before that.
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
