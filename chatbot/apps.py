from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    name = "chatbot"
    verbose_name = "Chatbot"

    def ready(self) -> None:
        # Deleting an account, by any path, also purges its files and Redis keys (seed 001: immediate purge).
        from chatbot.cleanup import connect_signals

        connect_signals()
