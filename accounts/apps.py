from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # django-allauth's `account` app is "Accounts" too: the admin index would show two sections of that name.
    verbose_name = "Users and settings"
    default_auto_field = "django.db.models.BigAutoField"
