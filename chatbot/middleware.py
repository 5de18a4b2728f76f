"""Project-wide middleware.

Under ASGI the whole stack runs synchronously in one worker thread per request (see `sync_middleware_boundary`):
Django's built-in middleware would otherwise hop between the event loop and a thread for every hook of every
middleware, and on a busy server each hop waits for the GIL.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import django_htmx.middleware
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.db import DataError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import resolve_url
from django.urls import reverse
from django.utils.functional import cached_property
from django_htmx.http import HttpResponseClientRedirect
from whitenoise.middleware import WhiteNoiseMiddleware

from chatbot.logging import request_id_var

logger = logging.getLogger(__name__)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    # A proxy's id is kept so logs line up across hops; anything odd is replaced, never echoed.
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def request_id_middleware(get_response: Callable) -> Callable:
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


def content_security_policy_middleware(get_response: Callable) -> Callable:
    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response

    return middleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, with file bodies an ASGI server can read without Django warning once per file.

    Under ASGI the middleware stack runs synchronously (`sync_middleware_boundary`), so WhiteNoise's synchronous
    file iterator would reach Django's ASGI handler as is, and be drained with a warning.
    """

    def _static_file(self, request: HttpRequest):
        if not request.path_info.startswith(self.static_prefix):
            return None
        return self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        static_file = self._static_file(request)
        if static_file is None:
            return self.get_response(request)
        response = self.serve(static_file, request)
        if isinstance(request, ASGIRequest) and response.streaming:
            response.streaming_content = _read_in_thread(response.streaming_content)
        return response


class _HtmxDetails(django_htmx.middleware.HtmxDetails):
    @cached_property
    def current_url_abs_path(self) -> str | None:
        """django-htmx's, but a header that is no URL at all ("http://[", an unclosed IPv6 host, which urlsplit
        refuses) names no page of ours: the sidebar's forms and the sign-in redirect read it, and it was a 500."""
        try:
            return super().current_url_abs_path
        except ValueError:
            return None


def htmx_middleware(get_response: Callable) -> Callable:
    """django-htmx's middleware (`request.htmx`), its details safe with any HX-Current-URL (`_HtmxDetails`)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        request.htmx = _HtmxDetails(request)
        return get_response(request)

    return middleware


def htmx_sign_in_middleware(get_response: Callable) -> Callable:
    """An htmx request sent to sign in (its session ended) or up (a guest) goes there as a whole page.

    htmx follows a plain redirect itself and swaps what it gets in place of the fragment: the whole sign-in page,
    header and all, inside a polling row or the indexing line, its `next` that fragment's URL. Such a response
    becomes an HX-Redirect instead, back to the page the request came from.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if response.status_code != 302 or not getattr(request, "htmx", False):
            return response
        target = urlsplit(response["Location"]).path
        if target == resolve_url(settings.LOGIN_URL):
            page = request.htmx.current_url_abs_path or "/"  # same-origin pages only (django-htmx)
            return HttpResponseClientRedirect(redirect_to_login(page)["Location"])
        if target == reverse("account_signup"):
            return HttpResponseClientRedirect(response["Location"])
        return response

    return middleware


class AdminInputMiddleware:
    """The admin's own views take a bad value to the database: a NUL in a search, a filter or an object's id
    (PostgreSQL refuses it in text: a DataError) or an id of the wrong form among an action's selected rows (a UUID
    field raises ValidationError). Either was a 500; under the admin it is a 400 that says so. Only the error is
    caught, not every NUL: the app's own pages under the admin (the usage dashboard) read such values themselves."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(reverse("admin:index")):  # both with the script's prefix, if any
            return None
        if isinstance(exception, ValidationError):
            return HttpResponseBadRequest("; ".join(exception.messages) or "A value is not valid.")
        if isinstance(exception, DataError) and "NUL" in str(exception):
            return HttpResponseBadRequest("A value holds a NUL character, which nothing here can hold.")
        if isinstance(exception, ValueError):  # a number field given other text ("Field 'id' expected a number")
            logger.warning("admin request refused: %s", exception)
            return HttpResponseBadRequest(str(exception) or "A value is not valid.")
        return None


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
