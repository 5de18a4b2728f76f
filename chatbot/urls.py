from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView

from accounts import views as accounts_views
from chatbot import views
from chatbot.admin_login import rate_limited_admin_login
from chatbot.metrics import metrics_view
from chatbot.system import system_page

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico whatever the page links; the icon is the SVG the pages link, by its static URL
    # (resolved on request: in production it carries the manifest's hash). Not permanent, as that URL changes.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg"), permanent=False)),
    path("admin/login/", rate_limited_admin_login),
    path("admin/system/", system_page, name="admin_system"),
    path("admin/", admin.site.urls),
    # Before allauth's own: guests may sign up (and keep their conversations) while signed in as a guest.
    path("accounts/signup/", accounts_views.signup, name="account_signup"),
    path("accounts/", include("allauth.urls")),
    path("", include("accounts.urls")),
    path("c/", include("conversations.urls")),
    path("documents/", include("documents.urls")),
    path("tools/", include("chatbot.tools.urls")),
]

# No route serves MEDIA_ROOT, not even in DEBUG: an upload reaches a browser only through a view that checks who
# may read it (documents:original, the admin's file views), with headers that keep it from running as a page.
