from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "catalog"
    verbose_name = "Models and usage"

    def ready(self) -> None:
        from catalog.seed import reseed_when_empty

        # A flush (a transactional test's teardown, `manage.py flush`) empties the catalogue with everything else
        # and then sends post_migrate: the seed rows come back as the data migration first wrote them.
        post_migrate.connect(reseed_when_empty, sender=self)
