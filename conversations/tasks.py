from celery import shared_task

from conversations.generation import sweep_stale_streams


@shared_task
def sweep_stale_generations() -> int:
    return sweep_stale_streams()
