import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")

# The event loop streams every reply while worker threads run the ORM. With CPython's default 5 ms GIL switch
# interval, each time the loop comes back from waiting on sockets it queues behind a busy thread for up to 5 ms,
# and a hundred streams stall together (measured in bench/chat_latency.py; see docs/decisions.md).
sys.setswitchinterval(0.001)

application = get_asgi_application()
