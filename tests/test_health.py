import json

import pytest


def test_healthz_says_ok_without_touching_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_every_check_ok(client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body == {
        "status": "ok",
        "warming": [],
        "checks": {"database": "ok", "migrations": "ok", "pgvector": "ok", "redis": "ok", "embeddings": "ok"},
    }


def test_every_response_carries_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc12345-proxy")
    assert response["X-Request-ID"] == "abc12345-proxy"
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id():
    import logging

    from chatbot.logging import JsonFormatter, RequestIdFilter, request_id_var

    token = request_id_var.set("req-123456")
    try:
        record = logging.makeLogRecord({"name": "chatbot", "levelname": "INFO", "msg": "hi %s", "args": ("there",)})
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "hi there"
    assert line["request_id"] == "req-123456"
    assert line["level"] == "INFO"


def test_pages_send_a_content_security_policy(client):
    response = client.get("/healthz")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
