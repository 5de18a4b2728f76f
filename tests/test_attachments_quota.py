"""Attachment uploads: an hourly rate limit per user and a storage quota per user (a file stored once counts once),
each refused with a sentence saying why and what to do, nothing saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from conversations import attachments
from conversations.models import Attachment
from tests.test_attachments import png_bytes, upload

pytestmark = pytest.mark.django_db


def stored(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_uploads_past_the_hourly_limit_are_refused_for_that_user_only(user_client, user, client, settings):
    from tests.factories import UserFactory

    settings.ATTACHMENT_UPLOADS_PER_HOUR = 2
    assert upload(user_client, "a.txt", b"first").status_code == 201
    assert upload(user_client, "b.txt", b"second").status_code == 201
    response = upload(user_client, "c.txt", b"third")
    assert response.status_code == 429
    text = response.content.decode()
    assert "c.txt: you have attached 2 files this hour, the most an hour allows; try again in" in text
    assert Attachment.objects.filter(user=user).count() == 2 and len(stored(settings)) == 2
    client.force_login(UserFactory())
    assert upload(client, "d.txt", b"someone else").status_code == 201, "counted per user"


def test_the_storage_quota_counts_each_stored_file_once_and_refuses_what_does_not_fit(user_client, user, settings):
    settings.ATTACHMENT_QUOTA_MB = 1
    first = b"a" * 600_000
    assert upload(user_client, "first.txt", first).status_code == 201
    response = upload(user_client, "second.txt", b"b" * 600_000)
    assert response.status_code == 413
    assert (
        "second.txt: your attached files already take 585.9 KB of your 1 MB, and this one (585.9 KB) does not fit."
        in response.content.decode()
    )
    assert Attachment.objects.filter(user=user).count() == 1 and len(stored(settings)) == 1, "nothing half-saved"
    # The same bytes again take no more room: accepted.
    assert upload(user_client, "again.txt", first).status_code == 201
    assert attachments.attachment_storage_used(user=user) == 600_000
    # Room made (the unsent uploads removed), the new file fits.
    for row in Attachment.objects.filter(user=user):
        user_client.post(reverse("conversations:attachment_remove", args=[row.id]))
    assert upload(user_client, "second.txt", b"b" * 600_000).status_code == 201


def test_another_users_files_do_not_count_against_mine(user, settings):
    from tests.factories import UserFactory

    settings.ATTACHMENT_QUOTA_MB = 1
    other = UserFactory()
    attachments.attachment_upload(user=other, filename="big.png", data=png_bytes((400, 400)))
    attachments.attachment_upload(user=user, filename="t.txt", data=b"c" * 900_000)
    with pytest.raises(attachments.AttachmentQuotaExceeded):
        attachments.attachment_upload(user=user, filename="u.txt", data=b"d" * 200_000)
    assert attachments.attachment_upload(user=other, filename="v.txt", data=b"e" * 200_000).size == 200_000
