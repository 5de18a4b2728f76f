from celery import shared_task


@shared_task
def ping(value: str = "pong") -> dict:
    """A task with no side effects, used to prove a worker is alive (tests, operators' smoke checks)."""
    import os
    import socket

    return {"value": value, "hostname": socket.gethostname(), "pid": os.getpid()}


@shared_task
def cleanup() -> dict:
    """The daily retention run (the same as `manage.py cleanup`)."""
    from chatbot.cleanup import cleanup_run

    return cleanup_run()
