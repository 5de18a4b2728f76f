"""A prompt turn's attached images and PDFs as each provider's content blocks.

Which attachments are sent natively is decided before (conversations/attachments.py, from the model's capabilities);
a turn without any keeps its plain string content, so requests without attachments are unchanged.
"""

from __future__ import annotations

import base64

from chatbot.llm.base import PromptMessage


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _data_url(mime_type: str, data: bytes) -> str:
    return f"data:{mime_type};base64,{_base64(data)}"


def anthropic_content(message: PromptMessage) -> str | list[dict]:
    """Messages API: image and document (PDF) blocks before the text, as Anthropic recommends."""
    if not message.attachments:
        return message.content
    blocks: list[dict] = []
    for attachment in message.attachments:
        source = {"type": "base64", "media_type": attachment.mime_type, "data": _base64(attachment.data)}
        if attachment.kind == "image":
            blocks.append({"type": "image", "source": source})
        else:
            blocks.append({"type": "document", "source": source, "title": attachment.name})
    if message.content:  # a message of files only: Anthropic refuses an empty text block
        blocks.append({"type": "text", "text": message.content})
    return blocks


def openai_content(message: PromptMessage) -> str | list[dict]:
    """Chat Completions: image_url parts with data URLs, PDFs as file parts (file_data), then the text."""
    if not message.attachments:
        return message.content
    parts: list[dict] = [{"type": "text", "text": message.content}] if message.content else []
    for attachment in message.attachments:
        url = _data_url(attachment.mime_type, attachment.data)
        if attachment.kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            parts.append({"type": "file", "file": {"filename": attachment.name, "file_data": url}})
    return parts


def gemini_parts(message: PromptMessage) -> list:
    """google-genai: inline_data parts (images and PDFs alike), then the text."""
    from google.genai import types

    parts = [
        types.Part(inline_data=types.Blob(mime_type=attachment.mime_type, data=attachment.data))
        for attachment in message.attachments
    ]
    if message.content:
        parts.append(types.Part(text=message.content))
    return parts
