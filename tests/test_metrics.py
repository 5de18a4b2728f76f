"""/metrics: refused without the token (or outside the allowed networks), absent when neither is configured;
counts requests, replies, time to first token and provider errors, and reads the queues at scrape time."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conversations.models import Stream
from documents.models import Document
from tests import factories
from tests.conftest import LIVE_METRICS_TOKEN
from tests.test_chat_streaming import start_chat, with_key

TOKEN = "s3cret-metrics-token"


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def scrape(client, token: str = TOKEN) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return response.content.decode()


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []


def test_without_a_token_or_networks_configured_the_endpoint_does_not_exist(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_refused_without_the_right_bearer_token(client, metrics_on, db, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert b"chatbot_" not in response.content


def test_a_signed_in_staff_user_needs_the_token_too(admin_client, metrics_on):
    assert admin_client.get("/metrics").status_code == 401


def test_internal_networks_when_configured_and_never_a_forwarded_address_that_is_not_trusted(client, settings, db):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.0.0.0/8", "127.0.0.1"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 401
    # A client cannot claim an internal address: without a trusted proxy the header is ignored...
    spoofed = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert spoofed.status_code == 401
    # ...and behind one, the proxy's own (internal) address does not let the public in.
    settings.TRUSTED_PROXY_COUNT = 1
    proxied = client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.status_code == 401


def test_requests_are_counted_by_route_and_status(client, metrics_on, db):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page/")
    after = scrape(client)
    healthz = {"method": "GET", "route": "healthz", "status": "200"}
    name = "chatbot_http_requests_total"
    assert value(after, name, **healthz) - value(before, name, **healthz) == 2
    missing = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(after, name, **missing) >= 1


def test_queues_and_failures_are_read_at_scrape_time(client, metrics_on, db):
    factories.DocumentFactory(status=Document.Status.PENDING)
    factories.DocumentFactory(status=Document.Status.PROCESSING)
    factories.DocumentFactory(status=Document.Status.FAILED, error="not a PDF")
    factories.StreamFactory()
    text = scrape(client)
    assert value(text, "chatbot_ingestion_queue", status="pending") == 1
    assert value(text, "chatbot_ingestion_queue", status="processing") == 1
    assert value(text, "chatbot_ingestion_failed_documents") == 1
    assert value(text, "chatbot_replies_streaming") == Stream.objects.filter(status="active").count() == 1
    assert value(text, "chatbot_celery_broker_up") == 1
    assert value(text, "chatbot_celery_queue_length") >= 0


@pytest.mark.slow
def test_the_live_app_counts_a_reply_its_time_to_first_token_and_a_provider_error(live_app, live_client):
    def live_metrics() -> str:
        response = httpx.get(f"{live_app.url}/metrics", headers={"Authorization": f"Bearer {LIVE_METRICS_TOKEN}"})
        assert response.status_code == 200
        return response.text

    assert httpx.get(f"{live_app.url}/metrics").status_code == 401
    before = live_metrics()
    client = live_client(with_key(factories.UserFactory()))
    _, url = start_chat(client, "Hello there")
    list(client.events(url))
    failing = live_client(with_key(factories.UserFactory()))
    _, url = start_chat(failing, "Hello [[429]]")
    list(failing.events(url))
    after = live_metrics()

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("chatbot_replies_total", provider="anthropic", status="complete") == 1
    assert grew("chatbot_reply_time_to_first_token_seconds_count", provider="anthropic") >= 1
    assert grew("chatbot_provider_errors_total", provider="anthropic", kind="rate_limited") == 1


def test_several_worker_processes_are_summed_in_multiprocess_mode(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR (docker-compose sets it for gunicorn's workers) every process writes its
    counts there and a scrape of any one of them sums them all."""
    import os
    import subprocess
    import sys

    folder = tmp_path / "prometheus"  # created by chatbot.metrics itself on import
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "DJANGO_SETTINGS_MODULE": "chatbot.settings"}
    count_one = (
        "import django; django.setup(); from chatbot import metrics; assert metrics.MULTIPROCESS; "
        "metrics.reply_finished(provider='anthropic', status='complete', time_to_first_token_ms=300, "
        "error_kind='')"
    )
    for _ in range(2):  # two workers, one reply each
        subprocess.run([sys.executable, "-c", count_one], env=environment, check=True, timeout=120)
    scrape = (
        "import django; django.setup(); from prometheus_client import CollectorRegistry, generate_latest; "
        "from prometheus_client.multiprocess import MultiProcessCollector; registry = CollectorRegistry(); "
        "MultiProcessCollector(registry); print(generate_latest(registry).decode())"
    )
    text = subprocess.run(
        [sys.executable, "-c", scrape], env=environment, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    assert value(text, "chatbot_replies_total", provider="anthropic", status="complete") == 2
    assert value(text, "chatbot_reply_time_to_first_token_seconds_count", provider="anthropic") == 2


def test_a_hung_broker_is_reported_down_within_seconds(client, metrics_on, db, monkeypatch):
    # An operator's walk: with Redis stopped (SIGSTOP: it accepts connections and answers nothing) a scrape hung
    # for over 30 s, past Prometheus' timeout, so chatbot_celery_broker_up=0 never reached anyone.
    import socket
    import time

    from chatbot.celery import app
    from chatbot.metrics import BROKER_TIMEOUT

    with socket.socket() as silent:  # listens, so connections succeed, and never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setitem(app.conf, "broker_read_url", f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()
        text = scrape(client)
        elapsed = time.monotonic() - started
    assert value(text, "chatbot_celery_broker_up") == 0
    assert "chatbot_celery_queue_length" not in text
    assert elapsed < 3 * BROKER_TIMEOUT
