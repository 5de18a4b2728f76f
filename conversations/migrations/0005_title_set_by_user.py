from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_usage_cost"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="title_set_by_user",
            field=models.BooleanField(default=False),
        ),
    ]
