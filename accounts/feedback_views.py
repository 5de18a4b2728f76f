"""The "Send feedback" page, linked from the header's menu with the page it was opened from."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.feedback import FEEDBACK_PER_HOUR, FeedbackForm, feedback_send, safe_page
from chatbot.ratelimit import hit


@login_required
def feedback(request: HttpRequest) -> HttpResponse:
    # Only ever a path on this site, whatever was sent: it is shown, linked and redirected to.
    page = safe_page(request.POST.get("page") if request.method == "POST" else request.GET.get("from"))
    form = FeedbackForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            allowed, retry_after = hit(
                scope="feedback", key=str(request.user.id), limit=FEEDBACK_PER_HOUR, window_seconds=3600
            )
            if allowed:
                feedback_send(user=request.user, message=form.cleaned_data["message"], page=page)
                messages.success(request, "Thank you: your feedback was sent.")
                return redirect(page or "conversations:index")
            minutes = max(1, retry_after // 60)
            plural = "s" if minutes != 1 else ""
            form.add_error(None, f"You have sent a lot of feedback this hour; try again in {minutes} minute{plural}.")
            status = 429
        else:
            status = 400
    return render(request, "accounts/feedback.html", {"form": form, "page": page}, status=status)
