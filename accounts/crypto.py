"""Encryption of users' API keys at rest: MultiFernet over KEY_ENCRYPTION_KEYS (newest key first)."""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class KeyDecryptionError(Exception):
    """A stored key cannot be decrypted with any configured encryption key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"KEY_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.KEY_ENCRYPTION_KEYS))


def encrypt_secret(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise KeyDecryptionError("the stored key cannot be decrypted with the configured encryption keys") from exc


def reencrypt_secret(token: str) -> str:
    """The same secret encrypted under the newest key (MultiFernet.rotate)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise KeyDecryptionError("the stored key cannot be decrypted with the configured encryption keys") from exc


def key_hint(plaintext: str) -> str:
    return plaintext[-4:] if len(plaintext) >= 12 else ""
