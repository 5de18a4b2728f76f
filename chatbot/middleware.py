"""Project-wide middleware.

Under ASGI the whole stack runs synchronously in one worker thread per request (see `sync_middleware_boundary`):
Django's built-in middleware would otherwise hop between the event loop and a thread for every hook of every
middleware, and on a busy server each hop waits for the GIL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware

from chatbot.logging import request_id_var

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    # A proxy's id is kept so logs line up across hops; anything odd is replaced, never echoed.
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


@sync_and_async_middleware
def request_id_middleware(get_response: Callable) -> Callable:
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            request.id = _request_id(request)
            token = request_id_var.set(request.id)
            try:
                response = await get_response(request)
            finally:
                request_id_var.reset(token)
            response["X-Request-ID"] = request.id
            return response

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            request.id = _request_id(request)
            token = request_id_var.set(request.id)
            try:
                response = get_response(request)
            finally:
                request_id_var.reset(token)
            response["X-Request-ID"] = request.id
            return response

    return middleware


@sync_and_async_middleware
def content_security_policy_middleware(get_response: Callable) -> Callable:
    def add_header(response: HttpResponse) -> HttpResponse:
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return add_header(await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:
            return add_header(get_response(request))

    return middleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, able to run natively under ASGI.

    WhiteNoise's middleware is synchronous only, which makes Django wrap every async request (reply streams
    included) in extra thread hops. Here a request for a non-static path goes straight through.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        super().__init__(get_response)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def _static_file(self, request: HttpRequest):
        if not request.path_info.startswith(self.static_prefix):
            return None
        return self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)

    def __call__(self, request: HttpRequest):
        if self._async:
            return self._acall(request)
        static_file = self._static_file(request)
        if static_file is None:
            return self.get_response(request)
        response = self.serve(static_file, request)
        if isinstance(request, ASGIRequest) and response.streaming:
            # The ASGI server reads an async body; a sync one would be drained with a warning per file.
            response.streaming_content = _read_in_thread(response.streaming_content)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if self.autorefresh:  # looks at the disk
            static_file = await sync_to_async(self._static_file)(request)
        else:
            static_file = self._static_file(request)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)


async def _read_in_thread(chunks):
    for chunk in await sync_to_async(list, thread_sensitive=False)(chunks):
        yield chunk


def sync_middleware_boundary(get_response: Callable) -> Callable:
    """Last in MIDDLEWARE: being synchronous only, it makes Django run every middleware above it in sync mode.

    Under ASGI a request then costs one hop into a worker thread for the whole stack and one back to the event
    loop for an async view, instead of two hops per hook of every built-in middleware. Under WSGI (the test
    client) it changes nothing.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        return get_response(request)

    return middleware


sync_middleware_boundary.sync_capable = True
sync_middleware_boundary.async_capable = False
