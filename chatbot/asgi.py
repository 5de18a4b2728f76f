import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")

# The event loop streams every reply while worker threads run the ORM. With CPython's default 5 ms GIL switch
# interval, each time the loop comes back from waiting on sockets it queues behind a busy thread for up to 5 ms,
# and a hundred streams stall together (measured in bench/chat_latency.py; see docs/decisions.md).
sys.setswitchinterval(0.001)

django_application = get_asgi_application()


async def application(scope, receive, send) -> None:
    """Django, plus the ASGI lifespan: on shutdown, running replies are saved as interrupted and clients closed."""
    if scope["type"] != "lifespan":
        await django_application(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            from conversations.generation import shutdown

            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
