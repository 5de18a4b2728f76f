import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")

# The event loop streams every reply while worker threads run the ORM. With CPython's default 5 ms GIL switch
# interval, each time the loop comes back from waiting on sockets it queues behind a busy thread for up to 5 ms,
# and a hundred streams stall together (measured in bench/chat_latency.py; see docs/decisions.md).
sys.setswitchinterval(0.001)

django_application = get_asgi_application()


def _tune_garbage_collector() -> None:
    """Leave the modules' objects out of every later garbage collection, and collect the young less often.

    A full collection walks every tracked object, and after start-up that is some 280,000 (Django, the SDK's
    types): each one stopped the event loop, and with it every streaming reply, for 150-180 ms (bench BENCH_GC=1).
    Views and providers import lazily on the first request, so they are imported first to freeze them too.
    """
    from django.urls import get_resolver

    from chatbot.llm.providers import import_provider_sdks

    get_resolver().url_patterns  # noqa: B018 - imports every view and service
    import_provider_sdks()
    gc.collect()
    gc.freeze()
    # A young collection every 10,000 net allocations instead of 700: a streaming reply allocates thousands of
    # short-lived objects that reference counting frees anyway, and at the default the collector ran some 250 times
    # a wave of 100 replies (a third of a second per worker) where it now runs about 15.
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


_tune_garbage_collector()


def _admitted_application():
    from django.conf import settings

    from chatbot.admission import AdmissionLimiter

    return AdmissionLimiter(django_application, slots=settings.REQUEST_SLOTS)


admitted_application = _admitted_application()


async def application(scope, receive, send) -> None:
    """Django (its requests admitted a few at a time: chatbot/admission.py), signed event streams served in front
    of it (conversations/stream_access.py), and the ASGI lifespan: on shutdown, running replies are saved as
    interrupted and clients closed."""
    if scope["type"] != "lifespan":
        from conversations.stream_access import serve_signed_stream

        # A reply's event stream with a signed URL is relayed here, without Django's request cycle.
        if not await serve_signed_stream(scope, receive, send):
            await admitted_application(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            from documents.embedding import warm_up_in_background

            warm_up_in_background()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from conversations.generation import shutdown

            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
