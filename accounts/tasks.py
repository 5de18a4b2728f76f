from celery import shared_task
from django.db import InterfaceError, OperationalError

from accounts.services import guests_purge_inactive


@shared_task
def purge_inactive_guests() -> int:
    return guests_purge_inactive()


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=5,
    max_retries=3,
    soft_time_limit=1800,
    time_limit=1900,
)
def build_data_export(export_id: str, download_url: str = "") -> str:
    """A user's full export (conversations/portability/full_export.py); returns its status."""
    from conversations.portability.full_export import data_export_build

    export = data_export_build(export_id=export_id, download_url=download_url)
    return export.status if export is not None else "deleted"
