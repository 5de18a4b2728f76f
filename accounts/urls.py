from django.urls import path, register_converter

from accounts import feedback_views, views
from accounts.sessions import SessionKeyConverter
from conversations.portability import views as portability_views

register_converter(SessionKeyConverter, "session_key")

app_name = "accounts"

urlpatterns = [
    path("settings/", views.preferences, name="preferences"),
    path("settings/retrieval/", views.retrieval_settings, name="retrieval"),
    path("settings/tools/", views.auto_approval_settings, name="tools"),
    path("settings/theme/", views.theme, name="theme"),
    path("settings/keys/", views.key_list, name="keys"),
    path("settings/keys/<uuid:key_id>/test/", views.key_test, name="key_test"),
    path("settings/keys/<uuid:key_id>/toggle/", views.key_toggle, name="key_toggle"),
    path("settings/keys/<uuid:key_id>/delete/", views.key_delete, name="key_delete"),
    path("settings/keys/audit/", views.audit_log, name="audit_log"),
    path("settings/usage/", views.usage, name="usage"),
    path("settings/usage/export/", views.usage_csv, name="usage_csv"),
    path("settings/sessions/", views.session_list, name="sessions"),
    path("settings/sessions/<session_key:session_key>/revoke/", views.session_revoke, name="session_revoke"),
    path("settings/sessions/revoke-others/", views.sessions_revoke_others, name="sessions_revoke_others"),
    path("settings/delete-account/", views.delete_account, name="delete_account"),
    path("guest/", views.guest_start, name="guest_start"),
    path("feedback/", feedback_views.feedback, name="feedback"),
    path("settings/data/", portability_views.data_page, name="data"),
    path("settings/data/export/", portability_views.data_export_start, name="data_export"),
    path("settings/data/export/<uuid:export_id>/", portability_views.data_export_status, name="data_export_status"),
    path(
        "settings/data/export/<uuid:export_id>/download/",
        portability_views.data_export_download,
        name="data_export_download",
    ),
    path("settings/data/import/", portability_views.chats_import, name="chats_import"),
]
