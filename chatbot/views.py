from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from chatbot.health import run_checks, warm_up_checks


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    failing = [name for name, result in checks.items() if result != "ok"]
    warming = []
    for name, (state, words) in warm_up_checks().items():
        checks[name] = "ok" if state in {"ready", "idle"} else words
        if state == "failed":
            failing.append(name)
        elif state == "loading":
            warming.append(name)
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing, "checks": checks}, status=503)
    # Still loading the embedding model: the app answers (chat, pages), the first document search waits for it.
    return JsonResponse({"status": "warming" if warming else "ok", "warming": warming, "checks": checks})


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("conversations:index")
    return render(request, "home.html")
