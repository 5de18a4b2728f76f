from django.urls import path

from conversations import compare_views, project_views, stream_views, summary_views, views, vote_views, workspace_views
from conversations.attachment_views import (
    attachment_file,
    attachment_remove,
    attachment_to_document,
    attachment_upload,
)
from conversations.portability import views as portability_views

app_name = "conversations"

urlpatterns = [
    path("", views.chat_index, name="index"),
    path("new/", views.chat_new, name="new"),
    path("list/", views.conversation_list_page, name="list"),
    path("search/", views.conversation_search, name="search"),
    path("archived/", workspace_views.archived_list, name="archived"),
    path("layout/", workspace_views.layout_switch, name="layout"),
    path("models/favourite/", views.model_favourite, name="model_favourite"),
    path("<uuid:conversation_id>/", views.chat_detail, name="detail"),
    path("<uuid:conversation_id>/messages/", views.message_create, name="message_create"),
    path("<uuid:conversation_id>/messages/<uuid:message_id>/regenerate/", views.message_regenerate, name="regenerate"),
    path("<uuid:conversation_id>/messages/<uuid:message_id>/edit/", views.message_edit, name="edit"),
    path("<uuid:conversation_id>/messages/<uuid:message_id>/switch/", views.message_switch, name="switch"),
    path(
        "<uuid:conversation_id>/messages/<uuid:message_id>/compare/retry/",
        compare_views.compare_retry,
        name="compare_retry",
    ),
    path(
        "<uuid:conversation_id>/messages/<uuid:message_id>/compare/continue/",
        compare_views.compare_continue,
        name="compare_continue",
    ),
    path("<uuid:conversation_id>/messages/<uuid:message_id>/vote/", vote_views.message_vote, name="vote"),
    path(
        "<uuid:conversation_id>/messages/<uuid:message_id>/vote/feedback/",
        vote_views.message_vote_feedback,
        name="vote_feedback",
    ),
    path("<uuid:conversation_id>/settings/", views.conversation_settings, name="settings"),
    path("<uuid:conversation_id>/model/", views.conversation_model, name="model"),
    path("<uuid:conversation_id>/rename/", views.conversation_rename, name="rename"),
    path("<uuid:conversation_id>/summarise/", summary_views.conversation_summarise, name="summarise"),
    path("<uuid:conversation_id>/title/", views.conversation_title, name="title"),
    path("<uuid:conversation_id>/share/", views.conversation_share, name="share"),
    path("shared/<uuid:conversation_id>/", views.conversation_shared, name="shared"),
    path("<uuid:conversation_id>/delete/", views.conversation_delete, name="delete"),
    path("<uuid:conversation_id>/export.<str:kind>", portability_views.conversation_export, name="export"),
    path("<uuid:conversation_id>/pin/", workspace_views.conversation_pin, name="pin"),
    path("<uuid:conversation_id>/archive/", workspace_views.conversation_archive, name="archive"),
    path("<uuid:conversation_id>/project/", project_views.conversation_move, name="move"),
    path("projects/", project_views.project_list, name="projects"),
    path("projects/<uuid:project_id>/", project_views.project_detail, name="project"),
    path("projects/<uuid:project_id>/edit/", project_views.project_edit, name="project_edit"),
    path("projects/<uuid:project_id>/delete/", project_views.project_delete, name="project_delete"),
    path("projects/<uuid:project_id>/documents/", project_views.project_documents_add, name="project_documents"),
    path(
        "projects/<uuid:project_id>/documents/<uuid:document_id>/remove/",
        project_views.project_document_remove,
        name="project_document_remove",
    ),
    path("attachments/", attachment_upload, name="attachment_upload"),
    path("attachments/<uuid:attachment_id>/", attachment_file, name="attachment_file"),
    path("attachments/<uuid:attachment_id>/remove/", attachment_remove, name="attachment_remove"),
    path("attachments/<uuid:attachment_id>/document/", attachment_to_document, name="attachment_document"),
    path("streams/<uuid:stream_id>/events/", stream_views.stream_events, name="stream_events"),
    path("streams/<uuid:stream_id>/stop/", stream_views.stream_stop, name="stream_stop"),
]
