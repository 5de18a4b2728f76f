from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_title_set_by_user"),
    ]

    operations = [
        migrations.CreateModel(
            name="VoteDashboard",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
            ],
            options={
                "verbose_name": "votes dashboard",
                "verbose_name_plural": "votes dashboard",
                "managed": False,
                "default_permissions": ("view",),
            },
        ),
    ]
