import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from documents.models import Document
from documents.services import document_fail, document_ingest

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError, RedisConnectionError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=5,
    soft_time_limit=600,  # a pathological file (say a PDF page that never finishes parsing) cannot hog a worker
    time_limit=660,
)
def ingest_document(self, document_id: str) -> str:
    try:
        document = document_ingest(document_id=document_id)
    except Document.DoesNotExist:
        return "deleted"  # removed while queued: nothing to do
    except (OperationalError, InterfaceError, RedisConnectionError):
        raise  # transient: retried with backoff
    except SoftTimeLimitExceeded:
        document_fail(
            document_id=document_id, error="Processing took too long (over 10 minutes); the file may be too complex."
        )
        return "failed"
    except Exception as exc:
        # Anything else is a bug or a hostile file; the document says so and the worker carries on.
        logger.exception("ingesting document %s failed", document_id)
        document_fail(document_id=document_id, error=f"Processing failed unexpectedly ({type(exc).__name__}).")
        return "failed"
    return document.status
