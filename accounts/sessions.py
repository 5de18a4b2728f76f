"""A database session store that records the user, IP address and browser of each session."""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    def __init__(self, session_key: str | None = None, *, ip: str | None = None, user_agent: str = "") -> None:
        super().__init__(session_key)
        self.ip = ip
        self.user_agent = user_agent[:500]

    @classmethod
    def get_model_class(cls) -> type:
        from accounts.models import Session

        return Session

    def create_model_instance(self, data: dict):
        instance = super().create_model_instance(data)
        instance.user_id = data.get(SESSION_KEY)
        instance.last_seen_at = timezone.now()
        if self.ip:
            instance.ip = self.ip
        if self.user_agent:
            instance.user_agent = self.user_agent
        existing = self.model.objects.filter(session_key=instance.session_key).values("created_at").first()
        if existing:
            instance.created_at = existing["created_at"]
        return instance


class SessionKeyConverter:
    """A session key in a URL: what Django generates (lowercase letters and digits), nothing else reaches a query."""

    regex = "[a-z0-9]{1,40}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
