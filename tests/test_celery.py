import os

import pytest

from chatbot.tasks import ping

pytestmark = pytest.mark.slow


def test_a_real_worker_runs_a_task_and_returns_its_result(celery_worker_process):
    result = ping.delay("hello")
    payload = result.get(timeout=30)
    assert payload["value"] == "hello"
    # Executed by the worker process, not eagerly in this one.
    assert payload["pid"] == celery_worker_process.pid
    assert payload["pid"] != os.getpid()
