from __future__ import annotations

import asyncio
import threading
import uuid
from functools import partial

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from accounts import selectors as account_selectors
from accounts.models import MAX_SYSTEM_PROMPT_LENGTH
from accounts.services import ClientInfo
from chatbot.redirects import next_url
from chatbot.text import clean_text, has_visible_text, title_too_long
from conversations import selectors, services
from conversations.attachments import attachments_claim, known_without_attachments
from conversations.compare import compare_turn, multi_model_enabled
from conversations.generation import hand_off, prepare_generation, sidebar_preview_html, start_generation
from conversations.models import Conversation, Message, Stream
from conversations.votes import conversation_votes_by_message


def _model_menu(user, conversation: Conversation | None) -> account_selectors.ModelMenu:
    """The composer's model menu: the models the user can use (their own key or the operator's; Ollama's as its
    server lists them), favourites first, hidden ones left out, on the conversation's model (a new chat: the
    preferred one). Keyed by provider and model, so two providers serving one model id stay apart."""
    selected = (conversation.provider, conversation.model) if conversation is not None else None
    return account_selectors.model_menu(user=user, selected=selected)


def _thread_context(conversation: Conversation) -> dict:
    """The branch on screen and the stream of each reply still streaming in it (messages prefetched).

    Streams are looked up by the replies read as streaming, whatever the stream's status now: a reply that finished
    after its row was read is still drawn as streaming, and its stream's done event then brings the final bubble.
    Looked up by status instead, such a reply was drawn finished but empty, with no error and no Retry.
    """
    messages = list(conversation.messages.all())
    streaming = [message.id for message in messages if message.status == Message.Status.STREAMING]
    active = {}
    if streaming:
        for stream_id, message_id in (
            Stream.objects.filter(message_id__in=streaming).order_by("created_at").values_list("id", "message_id")
        ):
            active[message_id] = stream_id  # the newest stream of a reply wins
    thread = selectors.conversation_thread(conversation=conversation, messages=messages)
    return {
        "conversation": conversation,
        "thread": thread,
        "active_streams": active,
        "votes": conversation_votes_by_message(conversation=conversation),
        # Side-by-side answers not continued yet, shown as columns (conversations/compare.py).
        "compare": compare_turn(thread=thread, messages=messages),
    }


def _page_context(request: HttpRequest, conversation: Conversation | None) -> dict:
    from conversations.workspace_views import sidebar_context

    context = {
        **sidebar_context(request),  # the sidebar's groups and the preferences that shape the page
        "conversation": conversation,
        "thread": [],
        "model_menu": _model_menu(request.user, conversation),
        "message_limit": services.MAX_MESSAGE_LENGTH,
        "compare_enabled": multi_model_enabled(user=request.user),  # the composer's "Compare with…"
    }
    if conversation is not None:
        context.update(_thread_context(conversation))
    elif context["workspace"].prompt_suggestions:
        from conversations.suggestions import prompt_suggestions

        context["suggestions"] = prompt_suggestions(user=request.user)
    return context


@login_required
@require_GET
def chat_index(request: HttpRequest) -> HttpResponse:
    context = _page_context(request, None)
    if request.GET.get("project"):  # a new chat started inside a project (its page's "New chat"): the owner's only
        from conversations.projects import project_get

        context["new_chat_project"] = project_get(user=request.user, project_id=request.GET["project"])
    return render(request, "conversations/chat.html", context)


@login_required
@require_GET
def chat_detail(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = selectors.conversation_with_messages(user=request.user, conversation_id=conversation_id)
    shown = _message_to_show(request, conversation)
    if shown is not None:
        # A link to one message (a search result) opens the branch that holds it, as its arrows would.
        services.branch_switch(user=request.user, message=shown)
        conversation = selectors.conversation_with_messages(user=request.user, conversation_id=conversation_id)
    template = (
        "conversations/partials/chat_main.html"
        if request.htmx and not request.htmx.boosted
        else "conversations/chat.html"
    )
    return render(request, template, _page_context(request, conversation))


def _message_to_show(request: HttpRequest, conversation: Conversation) -> Message | None:
    """The message named by ?message= when it is in this conversation but not on the branch on screen."""
    try:
        message_id = uuid.UUID(request.GET.get("message", ""))
    except ValueError:
        return None
    listed = list(conversation.messages.all())
    messages = {message.id: message for message in listed}
    if message_id not in messages:
        return None
    thread = selectors.conversation_thread(conversation=conversation, messages=listed)
    on_screen = {item.message.id for item in thread}
    return None if message_id in on_screen else messages[message_id]


@login_required
@require_GET
def conversation_list_page(request: HttpRequest) -> HttpResponse:
    """The sidebar's next page ("Show older"): the recent chats after the cursor, by day."""
    from conversations.workspace_views import sidebar_context

    if not request.htmx:
        # Opened as an address (copied, reloaded): the fragment alone is no page; the chats page lists the chats.
        return redirect("conversations:index")
    context = sidebar_context(request, cursor=request.GET.get("cursor"))
    return render(request, "conversations/partials/sidebar_recent.html", context)


# --- Sending, regenerating, editing: async, because they start a generation on this event loop -------------


def _thread_response(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Only the thread fragment: the sidebar is not part of it, so its list is not queried."""
    conversation = selectors.conversation_with_messages(user=request.user, conversation_id=conversation_id)
    context = {**_thread_context(conversation), "sources_found": getattr(request, "sources_found", {})}
    response = render(request, "conversations/partials/thread.html", context)
    if not context["active_streams"]:
        # The reply an edit or a retry started has finished already (a fast model): no done event will bring the
        # chat's new sidebar preview, so the thread does (the entry kept the old branch's reply).
        response.content += sidebar_preview_html(conversation.id).encode()
    return response


def _error_response(request: HttpRequest, message: str, status: int) -> HttpResponse:
    response = render(request, "conversations/partials/composer_error.html", {"error": message}, status=status)
    # htmx does not swap 4xx responses by default: point it at the composer's error slot explicitly.
    return reswap(retarget(response, "#composer-error"), "innerHTML")


def _with_thread_redrawn(request: HttpRequest, response: HttpResponse, conversation_id: uuid.UUID) -> HttpResponse:
    """A 409 ("wait for the current reply to finish") in a tab that did not know a reply was being written (sent
    from another tab or device): the thread comes with the error, out of band, so the reply it waits for streams
    here too, and app.js takes the error away when that reply ends."""
    conversation = selectors.conversation_with_messages(user=request.user, conversation_id=conversation_id)
    thread = render_to_string(
        "conversations/partials/thread.html", {**_thread_context(conversation), "oob": True}, request=request
    )
    response.content += thread.encode()
    return response


def _attempt(
    request: HttpRequest, action, *, conversation_id: uuid.UUID | None = None
) -> tuple[services.Generation | None, HttpResponse | None]:
    """Run a service that starts a reply; a refusal becomes a readable error in the composer. Given the chat,
    a form posted without JavaScript (Regenerate: no text to lose) goes back to the chat's page instead, the reason
    said there."""

    def refused(message: str, status: int) -> HttpResponse:
        if conversation_id is not None and not request.htmx:
            messages.error(request, message)
            return redirect("conversations:detail", conversation_id)
        return _error_response(request, message, status)

    try:
        return action(), None
    except services.QuotaExceeded as exc:
        return None, refused(exc.user_message, 429)
    except services.ReplyInProgress as exc:
        response = refused(str(exc), 409)
        if request.htmx and exc.conversation_id is not None:
            response = _with_thread_redrawn(request, response, exc.conversation_id)
        return None, response
    except ValueError as exc:
        return None, refused(str(exc), 400)


def _send(request: HttpRequest, conversation_id: uuid.UUID | None):
    content = request.POST.get("content", "")
    model = request.POST.get("model", "")  # the composer's model menu: the reply is written by what it shows
    effort = request.POST.get("reasoning_effort", "")  # beside it, for a model that can reason (else ignored)
    attached = request.POST.getlist("attachment")  # a message of files only needs no text
    if conversation_id is None and not content.strip() and not attached:
        return _error_response(request, "Write a message first.", 400), None
    project = None
    if conversation_id is None and request.POST.get("project"):  # a new chat inside one of the user's projects
        from conversations.projects import project_get

        project = project_get(user=request.user, project_id=request.POST["project"])
    compare_with = [value for value in request.POST.getlist("compare_model") if value.strip()]
    if compare_with:  # side-by-side answers: one reply per model (conversations/compare_views.py)
        from conversations.compare_views import compare_send

        return compare_send(
            request, conversation_id, models=[model, *compare_with], content=content, attached=attached, project=project
        )

    # A refused first message (too long, over quota) leaves no empty conversation behind. No savepoint: it only
    # runs inside send_with_attachments' transaction, which a refusal rolls back whole.
    @transaction.atomic(savepoint=False)
    def send() -> services.Generation:
        if conversation_id is None:
            conversation = services.conversation_create(
                user=request.user, model=model, project_id=project.id if project else None
            )
            return services.message_send(
                user=request.user, conversation_id=conversation.id, content=content, reasoning_effort=effort,
                allow_empty=bool(attached),
            )  # fmt: skip
        return services.message_send(
            user=request.user, conversation_id=conversation_id, content=content, model=model, reasoning_effort=effort,
            allow_empty=bool(attached),
        )  # fmt: skip

    @transaction.atomic  # an attachment refused (not the sender's, already sent) leaves no message behind
    def send_with_attachments() -> services.Generation:
        generation = send()
        if attached:
            attachments_claim(user=request.user, message=generation.user_message, ids=attached)
        else:
            known_without_attachments(generation.user_message, generation.assistant_message)
        return generation

    try:
        generation, error = _attempt(request, send_with_attachments)
    except Conversation.DoesNotExist:
        raise Http404 from None  # another user's conversation looks exactly like a missing one
    if error:
        return error, None
    leave = redirect_after_send(request, conversation_id=conversation_id, target_id=generation.stream.conversation_id)
    return leave or partial(_new_turn_response, request, generation), generation


def redirect_after_send(
    request: HttpRequest, *, conversation_id: uuid.UUID | None, target_id: uuid.UUID
) -> HttpResponse | None:
    """A new chat, or a send without htmx, goes to the chat's page (None: an htmx send in an open chat, which gets
    the new turn's fragment instead)."""
    if conversation_id is not None and request.htmx:
        return None
    url = reverse("conversations:detail", args=[target_id])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _new_turn_response(request: HttpRequest, generation: services.Generation) -> HttpResponse:
    """The two new bubbles, appended to the thread: sending never changes what is already on screen.

    Both are the only children of their parents (the active leaf has none), so neither has branch arrows.
    """
    # Both bubbles list their files: one query for the two, not one each (none when sent without files).
    prefetch_related_objects([generation.user_message, generation.assistant_message], "attachments")
    items = [
        selectors.ThreadItem(message=generation.user_message, siblings=[generation.user_message.id]),
        selectors.ThreadItem(message=generation.assistant_message, siblings=[generation.assistant_message.id]),
    ]
    return render(
        request,
        "conversations/partials/messages.html",
        {
            "thread": items,
            "active_streams": {generation.assistant_message.id: generation.stream.id},
            "sources_found": getattr(request, "sources_found", {}),
        },
    )


def _own_message(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    return get_object_or_404(
        Message.objects.select_related("conversation"),
        id=message_id,
        conversation_id=conversation_id,
        conversation__user=request.user,
    )


def _thread_or_page(request: HttpRequest, generation: services.Generation):
    """The redrawn thread for htmx; without JavaScript, the chat's page at the new reply (it streams there)."""
    conversation_id = generation.stream.conversation_id
    if request.htmx:
        return partial(_thread_response, request, conversation_id)
    anchor = f"#message-{generation.assistant_message.id}"
    return redirect(reverse("conversations:detail", args=[conversation_id]) + anchor)


def _regenerate(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID):
    message = _own_message(request, conversation_id, message_id)
    generation, error = _attempt(
        request,
        lambda: services.message_regenerate(user=request.user, message=message),
        conversation_id=conversation_id,
    )
    return (error, None) if error else (_thread_or_page(request, generation), generation)


def _edit(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID):
    message = _own_message(request, conversation_id, message_id)
    content = request.POST.get("content", "")
    # The edit form lists the message's files as "keep" checkboxes (attachment_keep.html): only the ticked ones go.
    keep = request.POST.getlist("keep_attachment") if request.POST.get("attachments_listed") else None
    generation, error = _attempt(
        request,
        lambda: services.message_edit(user=request.user, message=message, content=content, keep_attachments=keep),
    )  # a refusal without JavaScript is a page of its own: going back keeps the edited text
    return (error, None) if error else (_thread_or_page(request, generation), generation)


async def _run(request: HttpRequest, handler, *args) -> HttpResponse:
    """Save, prepare the prompt and render the page fragment in one worker-thread trip; the reply starts on the
    event loop as soon as its prompt is ready, while the fragment is rendered.

    One trip, not three: on a busy server each hop between the event loop and a thread waits its turn for the GIL.
    """
    loop = asyncio.get_running_loop()
    # A server's event loop (uvicorn's, in the main thread) outlives the request; the loop a test client makes for
    # one request ends with it, and a reply that got as far as its provider request would leave its connection open.
    serving = threading.current_thread() is threading.main_thread()

    def save_and_prepare():
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path()), None
        response, generation = handler(request, *args)
        # One reply, or one per model for side-by-side answers (conversations/compare.py).
        generations = generation if isinstance(generation, list) else [] if generation is None else [generation]
        client = ClientInfo.from_request(request)
        prepared = [prepare_generation(g.stream.id, client, generation=g, defer_key_audit=True) for g in generations]
        for reply, ready in zip(generations, prepared, strict=True):
            # The provider's request goes out now, not after the fragment is rendered (this thread's context, with
            # the request id, goes with it).
            loop.call_soon_threadsafe(partial(start_generation, reply.stream.id, client, prepared=ready))
        hand_off(prepared, wait=serving)  # the provider requests out before the page fragment; keys' uses recorded
        # The passages each reply will read, for its pending bubble: the documents were searched just now.
        request.sources_found = {
            g.assistant_message.id: len(p.request.sources) if p.request else 0
            for g, p in zip(generations, prepared, strict=True)
        }
        render_error = None
        if callable(response):  # a fragment to render
            try:
                response = response()
            except Exception as exc:  # the reply is saved as streaming: it must still run, or it blocks the chat
                render_error = exc
        return response, render_error

    response, render_error = await sync_to_async(save_and_prepare)()
    if render_error is not None:
        raise render_error
    return response


@require_POST
async def chat_new(request: HttpRequest) -> HttpResponse:
    return await _run(request, _send, None)


@require_POST
async def message_create(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    return await _run(request, _send, conversation_id)


@require_POST
async def message_regenerate(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    return await _run(request, _regenerate, conversation_id, message_id)


@require_POST
async def message_edit(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    return await _run(request, _edit, conversation_id, message_id)


@login_required
@require_POST
def message_switch(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    message = _own_message(request, conversation_id, message_id)
    services.branch_switch(user=request.user, message=message)
    if not request.htmx:  # the arrows posted without JavaScript: the chat's page, on that version
        return redirect(reverse("conversations:detail", args=[conversation_id]) + f"#message-{message.id}")
    conversation = selectors.conversation_with_messages(user=request.user, conversation_id=conversation_id)
    context = {**_thread_context(conversation), "sources_found": getattr(request, "sources_found", {})}
    response = render(request, "conversations/partials/thread.html", context)
    if not context["active_streams"]:
        # The reply an edit or a retry started has finished already (a fast model): no done event will bring the
        # chat's new sidebar preview, so the thread does (the entry kept the old branch's reply).
        response.content += sidebar_preview_html(conversation.id).encode()
    return response


MAX_TITLE_LENGTH = Conversation._meta.get_field("title").max_length


def _settings_error(request: HttpRequest, message: str) -> HttpResponse:
    if not request.htmx:
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    response = render(request, "conversations/partials/settings_saved.html", {"error": message}, status=400)
    return reswap(retarget(response, "#settings-status"), "innerHTML")  # app.js swaps a 4xx that names its target


@login_required
@require_POST
def conversation_settings(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    conversation.user = request.user  # the lookup was by owner
    system_prompt = clean_text(request.POST.get("system_prompt", ""))
    if len(system_prompt) > MAX_SYSTEM_PROMPT_LENGTH:
        # Refused, not cut: instructions missing their end would change what the model does without a word.
        return _settings_error(
            request,
            f"That system prompt is too long ({len(system_prompt):,} characters; the limit is "
            f"{MAX_SYSTEM_PROMPT_LENGTH:,}). Nothing was saved.",
        )
    try:
        services.conversation_update_settings(
            conversation=conversation,
            model=request.POST.get("model", ""),  # the menu is in the composer; still accepted here
            system_prompt=system_prompt,
            retrieval_enabled=request.POST.get("retrieval_enabled") == "on",
        )
    except services.ModelNotOffered as exc:
        return _settings_error(request, str(exc))
    if request.htmx:
        return render(request, "conversations/partials/settings_saved.html", {"conversation": conversation})
    return redirect("conversations:detail", conversation.id)


@login_required
@require_POST
def conversation_model(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The composer's model menu changed: the conversation moves to that model now, so Regenerate, Edit and a
    reload use it as the next message would."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    conversation.user = request.user  # the lookup was by owner
    try:
        services.conversation_set_model(conversation=conversation, model=request.POST.get("model", ""))
    except services.ModelNotOffered as exc:
        if not request.htmx:
            return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
        return _error_response(request, str(exc), 400)
    if request.htmx:
        return HttpResponse(status=204)
    return redirect("conversations:detail", conversation.id)


@login_required
@require_POST
def model_favourite(request: HttpRequest) -> HttpResponse:
    """Star or unstar the model chosen in the composer's menu (the signed-in user's own favourites, nobody
    else's); answers with the menu redrawn, favourites first."""
    from catalog.services import favourite_model_toggle

    conversation = None
    if request.POST.get("conversation"):
        try:
            conversation_id = uuid.UUID(request.POST["conversation"])
        except ValueError:
            raise Http404 from None
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    current = (conversation.provider, conversation.model) if conversation is not None else None
    choice = account_selectors.resolve_model_choice(
        user=request.user, value=request.POST.get("model", ""), current=current
    )
    if choice is None:
        if not request.htmx:
            return HttpResponse(services.MODEL_NOT_OFFERED, status=400, content_type="text/plain; charset=utf-8")
        return _error_response(request, services.MODEL_NOT_OFFERED, 400)
    favourite_model_toggle(user=request.user, key=account_selectors.model_key(*choice))
    if not request.htmx:
        return redirect("conversations:detail", conversation.id) if conversation else redirect("conversations:index")
    menu = account_selectors.model_menu(user=request.user, selected=choice)
    return render(
        request, "conversations/partials/model_picker.html", {"model_menu": menu, "conversation": conversation}
    )


@login_required
@require_POST
def conversation_share(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Make a conversation readable by anyone with its link (or private again)."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    public = request.POST.get("public") == "on"
    conversation.visibility = Conversation.Visibility.PUBLIC if public else Conversation.Visibility.PRIVATE
    conversation.save(update_fields=["visibility"])
    # Said on the page it comes back to (the settings sheet is closed there), with the link to copy.
    if public:
        link = request.build_absolute_uri(reverse("conversations:shared", args=[conversation.id]))
        messages.success(request, f"Shared: anyone with this link can read the conversation: {link}")
    else:
        messages.success(request, "No longer shared: its link now shows nothing.")
    return redirect("conversations:detail", conversation.id)


@require_GET
def conversation_shared(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The read-only page of a shared conversation; a private one is a 404 for everyone, its owner included."""
    conversation = get_object_or_404(
        Conversation.objects.select_related("user"), id=conversation_id, visibility=Conversation.Visibility.PUBLIC
    )
    messages = list(conversation.messages.order_by("created_at", "id").defer("search_vector"))
    thread = selectors.conversation_thread(conversation=conversation, messages=messages)
    return render(request, "conversations/shared.html", {"conversation": conversation, "thread": thread})


@login_required
@require_POST
def conversation_rename(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    title = " ".join(clean_text(request.POST.get("title", "")).split())
    problem = (
        "A title cannot be empty: the conversation keeps its name."
        if not title
        else title_too_long(title, limit=MAX_TITLE_LENGTH)
    )
    if problem:
        if request.htmx:
            # Beside the form in the settings sheet, the typed title kept (it answered 200 and changed nothing).
            response = render(request, "conversations/partials/rename_saved.html", {"error": problem}, status=400)
            return reswap(retarget(response, "#rename-status"), "innerHTML")
        # Back to the conversation with the reason (a bare 400 page left the user stranded on the form's URL).
        messages.error(request, problem)
        return redirect("conversations:detail", conversation.id)
    conversation.title = title
    conversation.title_set_by_user = True  # a title generated later must not replace the user's
    conversation.save(update_fields=["title", "title_set_by_user"])
    if request.htmx:
        # "Renamed." beside the form; the page's title, the header and the sidebar link out of band.
        return render(request, "conversations/partials/rename_saved.html", {"conversation": conversation})
    return redirect("conversations:detail", conversation.id)


@login_required
@require_GET
def conversation_title(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The title, for the page that just got a conversation's first reply: 204 while a small model is still
    writing it (the page asks again), then the title out of band with status 286, which stops the asking."""
    from django.core.cache import cache

    from conversations.titles import title_pending_key

    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    if cache.get(title_pending_key(conversation.id)):
        return HttpResponse(status=204)
    return render(request, "conversations/partials/title_update.html", {"conversation": conversation}, status=286)


@login_required
@require_POST
def conversation_delete(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Delete a conversation, say so, and go back where the form said (the archived list deletes several in a
    row), else to a new chat."""
    conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
    title = str(conversation)
    services.conversations_delete(conversations=Conversation.objects.filter(id=conversation.id))
    messages.success(request, f"Deleted “{title}”.")
    target = next_url(request, reverse("conversations:index"))
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)


@login_required
@require_GET
def conversation_search(request: HttpRequest) -> HttpResponse:
    from conversations.search_filters import ROLES, search_filters

    query = clean_text(request.GET.get("q", "")).strip()[:200]
    if not has_visible_text(query):
        query = ""  # only a NUL, a CR, zero-width characters: no query, as an empty box (not "Nothing matches “”")
    if request.htmx and request.htmx.target == "conversation-groups":
        return _sidebar_search(request, query=query)
    filters = search_filters(user=request.user, params=request.GET)
    results = (
        selectors.conversation_search(user=request.user, query=query, limit=30, **filters.as_kwargs())
        if query
        else None
    )
    context = {"query": query, "results": results, "filters": filters, "roles": ROLES}
    return render(request, "conversations/search.html", context)


def _sidebar_search(request: HttpRequest, *, query: str) -> HttpResponse:
    """The sidebar's search box, as it is typed in: the matching chats, each once; an empty box, the groups."""
    from conversations.workspace_views import sidebar_context

    if not query:
        return render(request, "conversations/partials/sidebar_groups.html", sidebar_context(request))
    results = selectors.conversation_search(user=request.user, query=query, limit=30)
    matches = {hit.conversation.id: hit.conversation for hit in results.conversations}
    for hit in results.messages:
        matches.setdefault(hit.message.conversation_id, hit.message.conversation)
    context = {"query": query, "matches": list(matches.values())[:30]}
    return render(request, "conversations/partials/sidebar_search.html", context)
