from __future__ import annotations

import re

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import KeyAuditLog, ProviderKey, Session, User


def session_list(*, user: User) -> QuerySet[Session]:
    return Session.objects.filter(user=user, expire_date__gt=timezone.now()).order_by("-last_seen_at")


def provider_key_list(*, user: User) -> QuerySet[ProviderKey]:
    return ProviderKey.objects.filter(user=user).order_by("provider").defer("encrypted_key")


def audit_log_list(*, user: User) -> QuerySet[KeyAuditLog]:
    return KeyAuditLog.objects.filter(user=user).order_by("-created_at")


_BROWSERS = [("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari")]
_SYSTEMS = [
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
]


def describe_user_agent(user_agent: str) -> str:
    """'Firefox on Linux' from a User-Agent header; good enough to recognise one's own devices."""
    if not user_agent:
        return "Unknown device"
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    if browser is None and re.search(r"HeadlessChrome|Chromium", user_agent):
        browser = "Chromium"
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or user_agent[:60]
