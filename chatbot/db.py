"""Small model helpers shared by the apps."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import connections, models, transaction
from django.db.models.fields.files import FieldFile


def choices_check(field: str, choices: type[models.TextChoices], name: str, *, allow_blank: bool = False):
    """A CHECK constraint mirroring a field's choices, so the database rejects what forms would."""
    values = list(choices.values) + ([""] if allow_blank else [])
    return models.CheckConstraint(condition=models.Q(**{f"{field}__in": values}), name=name)


def delete_file_after_commit(file: FieldFile | None) -> None:
    """Remove a row's file from storage once the deletion is committed (never if it rolls back)."""
    if not file or not file.name:
        return
    storage, name = file.storage, file.name

    def delete() -> None:
        # A chat attachment's stored file is shared by the rows of the same content (and a document made from
        # it): it goes with the last of them (conversations/attachments.py).
        if name.startswith("attachments/"):
            from conversations.attachments import file_in_use

            if file_in_use(name):
                return
        storage.delete(name)

    transaction.on_commit(delete)


async def in_thread(function, *args):
    """Run database work of an async view or a generation in a worker thread, its connection returned after.

    Not asgiref's single thread-sensitive executor: with many replies at once it would queue them all behind
    one another.
    """

    def call():
        try:
            return function(*args)
        finally:
            connections.close_all()

    return await sync_to_async(call, thread_sensitive=False)()
