"""Attachments across branches and without text: an edit carries the original's files (the form can leave some
behind), Retry keeps them, and a message of files only is sent with the files as the question."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from conversations import attachments, services
from conversations.models import Attachment, Message, Stream
from tests.factories import ConversationFactory, UserFactory
from tests.test_attachments import ask_with, key, png_bytes, run_request

pytestmark = pytest.mark.django_db


def question_with_files(user, provider="offline", model="offline") -> Message:
    ask_with(user, provider=provider, model=model, files=[("a.png", png_bytes()), ("notes.txt", b"Seven years.")])
    return Message.objects.filter(author=user, role="user").latest("created_at")


def finish(message: Message) -> None:
    """The streaming reply under `message` as finished, so that another can start."""
    Message.objects.filter(parent=message, status="streaming").update(status="complete", content="Done.")
    Stream.objects.filter(conversation_id=message.conversation_id).update(status=Stream.Status.COMPLETE)


def test_an_edit_carries_the_files_to_the_new_branch_and_either_branch_can_go(
    user_client, user, django_capture_on_commit_callbacks
):
    question = question_with_files(user)
    finish(question)
    page = user_client.get(reverse("conversations:detail", args=[question.conversation_id])).content.decode()
    assert 'name="keep_attachment"' in page and "Files sent with the edited message" in page
    url = reverse("conversations:edit", args=[question.conversation_id, question.id])
    assert user_client.post(url, {"content": "Changed"}).status_code in (200, 302)
    edited = Message.objects.get(author=user, role="user", content="Changed")
    assert edited.parent_id == question.parent_id
    old, new = list(question.attachments.order_by("created_at")), list(edited.attachments.order_by("created_at"))
    assert [(a.original_name, a.file.name) for a in new] == [(a.original_name, a.file.name) for a in old]
    assert {a.id for a in new}.isdisjoint({a.id for a in old}), "rows of their own, naming the same files"
    assert all(a.conversation_id == edited.conversation_id and a.user_id == user.id for a in new)
    # The original branch deleted, the edited one still has its files' bytes.
    with django_capture_on_commit_callbacks(execute=True):
        question.delete()
    assert all(Path(a.file.path).exists() for a in new)


def test_the_edit_form_can_leave_files_behind_and_files_alone_need_no_text(user_client, user):
    question = question_with_files(user)
    finish(question)
    image, _notes = question.attachments.order_by("created_at")
    stranger = attachments.attachment_upload(user=UserFactory(), filename="x.txt", data=b"not yours")
    url = reverse("conversations:edit", args=[question.conversation_id, question.id])
    keep = [str(image.id), str(stranger.id), "not-an-id"]  # only the message's own files can be kept
    assert user_client.post(url, {"content": "", "attachments_listed": "1", "keep_attachment": keep}).status_code in (
        200,
        302,
    )
    edited = Message.objects.filter(author=user, role="user").latest("created_at")
    assert edited.content == "" and [a.original_name for a in edited.attachments.all()] == ["a.png"]
    assert not Attachment.objects.filter(file=stranger.file.name).exclude(id=stranger.id).exists()
    finish(edited)
    # Nothing kept and no text: refused, nothing saved.
    before = Message.objects.count()
    response = user_client.post(url, {"content": " ", "attachments_listed": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 400 and "Write a message first." in response.content.decode()
    assert Message.objects.count() == before


def test_the_edited_message_and_a_retry_send_the_files_to_the_model(fake_anthropic):
    user = key(UserFactory(), "anthropic")
    question = question_with_files(user, provider="anthropic", model="claude-sonnet-5-5")
    finish(question)
    reply = Message.objects.get(parent=question)
    retry = services.message_regenerate(user=user, message=reply)
    run_request(retry)
    content = fake_anthropic.requests[-1]["messages"][-1]["content"]
    assert [block["type"] for block in content] == ["image", "text"]
    assert "Seven years." in content[1]["text"] and content[1]["text"].startswith("What is attached?")
    finish(question)
    edit = services.message_edit(user=user, message=question, content="Look again")
    run_request(edit)
    content = fake_anthropic.requests[-1]["messages"][-1]["content"]
    assert [block["type"] for block in content] == ["image", "text"]
    assert content[1]["text"].startswith("Look again") and "Seven years." in content[1]["text"]


def test_a_message_of_files_only_is_sent_and_the_prompt_has_no_empty_text(user_client, user, fake_anthropic):
    key(user, "anthropic")
    conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
    image = attachments.attachment_upload(user=user, filename="a.png", data=png_bytes())
    url = reverse("conversations:message_create", args=[conversation.id])
    assert user_client.post(url, {"content": "", "attachment": [str(image.id)]}).status_code in (200, 302)
    question = Message.objects.get(conversation=conversation, role="user")
    assert question.content == "" and list(question.attachments.all()) == [Attachment.objects.get(id=image.id)]
    page = user_client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert reverse("conversations:attachment_file", args=[image.id]) in page
    # The prompt: the image alone (Anthropic refuses an empty text block).
    finish(question)
    run_request(services.message_regenerate(user=user, message=Message.objects.get(parent=question)))
    assert fake_anthropic.requests[-1]["messages"][-1]["content"][0]["type"] == "image"
    assert [b["type"] for b in fake_anthropic.requests[-1]["messages"][-1]["content"]] == ["image"]
    # A new chat of files only, too; with neither text nor files, still refused.
    other = attachments.attachment_upload(user=user, filename="b.txt", data=b"Defrost weekly.")
    response = user_client.post(reverse("conversations:new"), {"content": "", "attachment": [str(other.id)]})
    assert response.status_code in (200, 302, 204)
    assert Attachment.objects.get(id=other.id).message.content == ""
    response = user_client.post(url, {"content": ""})
    assert response.status_code == 400 and "Write a message first." in response.content.decode()


# --- Side-by-side answers -----------------------------------------------------------------------------------------


def test_side_by_side_answers_send_the_files_to_each_model_as_it_can_take_them(
    user_client, user, fake_anthropic, fake_openai
):
    from accounts.models import Preferences

    Preferences.objects.update_or_create(user=user, defaults={"multi_model_enabled": True})
    key(key(user, "anthropic"), "deepseek")
    conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
    image = attachments.attachment_upload(user=user, filename="a.png", data=png_bytes())
    notes = attachments.attachment_upload(user=user, filename="n.txt", data=b"Seven years.")
    stranger = attachments.attachment_upload(user=UserFactory(), filename="x.txt", data=b"not yours")
    url = reverse("conversations:message_create", args=[conversation.id])
    models = {"model": "anthropic:claude-sonnet-5-5", "compare_model": "deepseek:deepseek-chat"}
    # Another user's upload refuses the whole send: nothing saved.
    response = user_client.post(url, {**models, "content": "", "attachment": [str(image.id), str(stranger.id)]})
    assert response.status_code == 400 and not Message.objects.filter(conversation=conversation).exists()
    response = user_client.post(url, {**models, "content": "", "attachment": [str(image.id), str(notes.id)]})
    assert response.status_code in (200, 302)
    question = Message.objects.get(conversation=conversation, role="user")
    assert question.content == "" and [a.id for a in question.attachments.order_by("created_at")] == [
        image.id,
        notes.id,
    ]
    # Each reply's request, as the view's worker sends it, against the fakes.
    Stream.objects.filter(conversation=conversation).update(status=Stream.Status.ACTIVE)
    generations = [
        services.Generation(user_message=question, assistant_message=reply, stream=reply.streams.get())
        for reply in Message.objects.filter(parent=question).order_by("created_at")
    ]
    run_request(generations[0])
    claude = fake_anthropic.requests[-1]["messages"][-1]["content"]
    assert [block["type"] for block in claude] == ["image", "text"] and "Seven years." in claude[1]["text"]
    prepared = run_request(generations[1])
    deepseek = fake_openai.requests[-1]["body"]["messages"][-1]["content"]
    assert isinstance(deepseek, str) and "cannot see images" in deepseek and "Seven years." in deepseek
    assert prepared.metadata["attachments_unseen"] == ["a.png"], "its bubble says it could not see the image"
