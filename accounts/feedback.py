"""General feedback about the application (seed 002's Feedback), with the page it was sent from."""

from __future__ import annotations

from django import forms
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import Feedback, User
from chatbot.text import clean_text, has_visible_text

MAX_FEEDBACK_LENGTH = 5_000
MAX_PAGE_LENGTH = Feedback._meta.get_field("page").max_length
# Sent by one person: a few an hour is plenty, and it keeps a script from filling the table.
FEEDBACK_PER_HOUR = 5


def safe_page(value: str | None) -> str:
    """`value` when it is a path on this site (what the form records and goes back to), else ""."""
    page = clean_text(value or "").strip()
    if not page.startswith("/") or page.startswith("//") or len(page) > MAX_PAGE_LENGTH:
        return ""
    if not url_has_allowed_host_and_scheme(page, allowed_hosts=None):
        return ""
    return page


class CleanTextField(forms.CharField):
    """Text cleaned (chatbot.text) before it is validated: a pasted NUL or control character is dropped, not
    turned into an error the writer cannot see."""

    def to_python(self, value) -> str:
        return clean_text(super().to_python(value))


class FeedbackForm(forms.Form):
    message = CleanTextField(
        label="Your feedback",
        widget=forms.Textarea(attrs={"rows": 6, "maxlength": MAX_FEEDBACK_LENGTH}),
        help_text="What works, what does not, what you miss. The page you came from is sent with it.",
    )

    def clean_message(self) -> str:
        text = self.cleaned_data["message"].strip()
        if not has_visible_text(text):
            raise forms.ValidationError("Write your feedback first.")
        if len(text) > MAX_FEEDBACK_LENGTH:
            raise forms.ValidationError(
                f"That is too long ({len(text):,} characters; the limit is {MAX_FEEDBACK_LENGTH:,})."
            )
        return text


def feedback_send(*, user: User, message: str, page: str = "") -> Feedback:
    return Feedback.objects.create(user=user, message=message, page=safe_page(page))
