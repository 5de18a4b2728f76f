"""Small model helpers shared by the apps."""

from __future__ import annotations

from django.db import models, transaction
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
