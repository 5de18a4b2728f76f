"""Project-wide middleware; each one works natively under both ASGI and WSGI (no thread hop)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
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
        return self.serve(static_file, request) if static_file is not None else self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if self.autorefresh:  # looks at the disk
            static_file = await sync_to_async(self._static_file)(request)
        else:
            static_file = self._static_file(request)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)
