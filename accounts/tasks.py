from celery import shared_task

from accounts.services import guests_purge_inactive


@shared_task
def purge_inactive_guests() -> int:
    return guests_purge_inactive()
