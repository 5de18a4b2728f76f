from celery import shared_task

from conversations.generation import sweep_stale_streams


@shared_task
def sweep_stale_generations() -> int:
    from chatbot.tools.waiting import expire_approvals

    # Tool calls left unanswered past their timeout are declined and their replies resumed (the model is told).
    expire_approvals()
    return sweep_stale_streams()
