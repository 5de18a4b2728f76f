"""Prometheus metrics at /metrics (issue 18), never public: a bearer token (METRICS_TOKEN) or an address in
METRICS_ALLOWED_NETWORKS is needed; with neither set the endpoint does not exist (404).

Two kinds of figures:
- events counted where they happen, in the web process: requests (by method, route name and status), replies
  finished (by provider and status), time to first token, provider errors by kind. With several web processes
  (gunicorn workers) set PROMETHEUS_MULTIPROC_DIR to a folder the workers share: each writes its own files there
  and a scrape of any worker sums them all (prometheus-client's multiprocess mode). Without it each process counts
  for itself, which is right for `make run`'s single web process.
- state read at scrape time, so the same whichever process answers: replies streaming now, the ingestion queue
  (documents waiting or processing), failed ingestions, the Celery queue's length.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path

# prometheus-client picks its storage when imported: the multiprocess folder must exist by then.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.utils.decorators import sync_and_async_middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
APP = CollectorRegistry()

REQUESTS = Counter(
    "chatbot_http_requests", "HTTP requests answered, by method, route and status.", ["method", "route", "status"],
    registry=APP,
)  # fmt: skip
REPLIES = Counter(
    "chatbot_replies", "Assistant replies finished, by provider and status.", ["provider", "status"], registry=APP
)
TIME_TO_FIRST_TOKEN = Histogram(
    "chatbot_reply_time_to_first_token_seconds",
    "From the start of a reply to its first token, by provider.",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60),
    registry=APP,
)
PROVIDER_ERRORS = Counter(
    "chatbot_provider_errors", "Replies a provider failed, by provider and kind of error.", ["provider", "kind"],
    registry=APP,
)  # fmt: skip
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def reply_finished(*, provider: str, status: str, time_to_first_token_ms: int | None, error_kind: str = "") -> None:
    """Count a finished reply (called once per reply, whatever its end)."""
    provider = provider or "unknown"
    REPLIES.labels(provider, status).inc()
    if time_to_first_token_ms is not None:
        TIME_TO_FIRST_TOKEN.labels(provider).observe(time_to_first_token_ms / 1000)
    if error_kind:
        PROVIDER_ERRORS.labels(provider, error_kind).inc()


def _count(request: HttpRequest, response: HttpResponse) -> None:
    match = getattr(request, "resolver_match", None)
    route = (match.view_name if match else "") or "unmatched"  # route names, not paths: a bounded set of labels
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(method, route, str(response.status_code)).inc()


@sync_and_async_middleware
def metrics_middleware(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            response = await get_response(request)
            _count(request, response)
            return response

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            response = get_response(request)
            _count(request, response)
            return response

    return middleware


class StateCollector:
    """Figures read from the database and the broker at scrape time."""

    def collect(self):
        from conversations.models import Stream
        from documents.models import Document

        streaming = GaugeMetricFamily("chatbot_replies_streaming", "Replies streaming right now.")
        streaming.add_metric([], Stream.objects.filter(status=Stream.Status.ACTIVE).count())
        yield streaming

        queue = GaugeMetricFamily(
            "chatbot_ingestion_queue", "Documents waiting for or in ingestion, by status.", labels=["status"]
        )
        counts = dict(
            Document.objects.filter(status__in=[Document.Status.PENDING, Document.Status.PROCESSING])
            .values("status")
            .annotate(count=Count("id"))
            .values_list("status", "count")
        )
        for status in (Document.Status.PENDING, Document.Status.PROCESSING):
            queue.add_metric([status], counts.get(status, 0))
        yield queue

        failed = GaugeMetricFamily("chatbot_ingestion_failed_documents", "Documents whose ingestion failed.")
        failed.add_metric([], Document.objects.filter(status=Document.Status.FAILED).count())
        yield failed

        length = celery_queue_length()
        up = GaugeMetricFamily("chatbot_celery_broker_up", "1 when the Celery broker answered the scrape.")
        up.add_metric([], 0 if length is None else 1)
        yield up
        if length is not None:
            celery = GaugeMetricFamily("chatbot_celery_queue_length", "Tasks waiting in Celery's queue.")
            celery.add_metric([], length)
            yield celery


# Seconds the broker has to answer a scrape or the System page. kombu's own defaults wait for ever on a broker that
# accepts the connection and then says nothing (a hung Redis): the scrape hung past Prometheus' 10 s timeout, and the
# one figure that would have said so, chatbot_celery_broker_up, never arrived.
BROKER_TIMEOUT = 2.0


def celery_queue_length(queue: str = "celery") -> int | None:
    """Messages waiting in the broker's queue (a Redis list), or None when the broker does not answer in time."""
    from chatbot.celery import app

    options = {
        **(app.conf.broker_transport_options or {}),
        "socket_timeout": BROKER_TIMEOUT,
        "socket_connect_timeout": BROKER_TIMEOUT,
        "max_retries": 0,  # one try: the next scrape is the retry
    }
    try:
        with app.connection_for_read(connect_timeout=BROKER_TIMEOUT, transport_options=options) as connection:
            return int(connection.default_channel.client.llen(queue))
    except Exception:
        return None


def exposition() -> bytes:
    if MULTIPROCESS:
        events = CollectorRegistry()
        MultiProcessCollector(events)
    else:
        events = APP
    state = CollectorRegistry()
    state.register(StateCollector())
    return generate_latest(events) + generate_latest(state)


def _allowed(request: HttpRequest) -> bool | None:
    """True: let through; False: refused; None: the endpoint is not configured at all."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return None
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if networks:
        from accounts.middleware import client_ip

        try:  # behind a proxy, the client's address (TRUSTED_PROXY_COUNT), never the proxy's own
            address = ipaddress.ip_address(client_ip(request) or "")
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
    return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    allowed = _allowed(request)
    if allowed is None:
        return HttpResponseNotFound("Not found.", content_type="text/plain")
    if not allowed:
        response = HttpResponse("A metrics token is needed.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
