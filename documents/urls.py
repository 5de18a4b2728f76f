from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("", views.document_list, name="list"),
    path("upload/", views.document_upload, name="upload"),
    path("delete/", views.document_bulk_delete, name="bulk_delete"),
    path("progress/", views.document_progress, name="progress"),
    path("new/", views.document_new, name="new"),
    path("<uuid:document_id>/", views.document_detail, name="detail"),
    path("<uuid:document_id>/status/", views.document_status, name="status"),
    path("<uuid:document_id>/original/", views.document_original, name="original"),
    path("<uuid:document_id>/rename/", views.document_rename, name="rename"),
    path("<uuid:document_id>/retry/", views.document_retry, name="retry"),
    path("<uuid:document_id>/delete/", views.document_delete, name="delete"),
    path("<uuid:document_id>/save/", views.document_save, name="save"),
    path("<uuid:document_id>/suggest/", views.document_suggest, name="suggest"),
    path("versions/<uuid:version_id>/", views.version_diff, name="version"),
    path("versions/<uuid:version_id>/restore/", views.version_restore, name="restore"),
    path("suggestions/<uuid:suggestion_id>/<str:action>/", views.suggestion_resolve, name="suggestion"),
    path("passages/<uuid:chunk_id>/", views.chunk_detail, name="chunk"),
]
