import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")

app = Celery("chatbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _load_the_embedding_model(**kwargs) -> None:
    # In each pool process, after the fork (torch's thread pools do not survive one): the first upload after a
    # start then finds the model loaded or loading, instead of loading it inside the task.
    from documents.embedding import warm_up_in_background

    warm_up_in_background()
