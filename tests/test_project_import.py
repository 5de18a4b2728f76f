"""Import recreates projects from this app's full export (projects.json) and puts each chat back in its project,
all or nothing like the rest of the import (conversations/portability/project_import.py)."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from accounts.models import DataExport
from conversations.models import Conversation, Project
from conversations.portability import exports, full_export, import_reading, imports
from documents.models import Document
from tests.factories import ConversationFactory, DocumentFactory, MessageFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db


def chat(user, title: str, project=None) -> Conversation:
    conversation = ConversationFactory(user=user, title=title, project=project)
    question = MessageFactory(conversation=conversation, role="user", content=f"About {title}?")
    answer = MessageFactory(conversation=conversation, parent=question, role="assistant", content="Yes.")
    conversation.active_leaf = answer
    conversation.save(update_fields=["active_leaf"])
    return conversation


def full_export_zip(user) -> bytes:
    export = DataExport.objects.create(user=user)
    full_export.data_export_build(export_id=export.id)
    export.refresh_from_db()
    return export.file.read()


def with_file(data: bytes, name: str, content: bytes) -> bytes:
    """The zip with one file's content replaced."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info.filename, content if info.filename.endswith(name) else source.read(info))
    return out.getvalue()


def projects_of(user) -> list[tuple]:
    return sorted(Project.objects.filter(user=user).values_list("name", "description", "instructions"))


def chats_of(user) -> dict[str, tuple | None]:
    return {
        c.title: (c.project.name, c.project.instructions) if c.project else None
        for c in Conversation.objects.filter(user=user).select_related("project")
    }


@pytest.fixture
def workspace(user):
    # Two projects of the same name: a chat's link is its project's id in the export, not the name.
    thesis = ProjectFactory(user=user, name="Research", description="The thesis", instructions="Cite sources.")
    grants = ProjectFactory(user=user, name="Research", description="Grants", instructions="Be brief.")
    ProjectFactory(user=user, name="Empty", description="", instructions="Answer in French.")
    chat(user, "Chapter one", thesis)
    chat(user, "Budget", grants)
    chat(user, "Loose chat")
    return user


def test_export_delete_import_gives_back_the_projects_and_each_chats_project(workspace):
    user = workspace
    before_projects, before_chats = projects_of(user), chats_of(user)
    data = full_export_zip(user)
    Conversation.objects.filter(user=user).delete()
    Project.objects.filter(user=user).delete()

    imported = imports.import_file(user=user, name="export.zip", data=data).created

    assert len(imported) == 3
    assert projects_of(user) == before_projects
    assert (
        chats_of(user)
        == before_chats
        == {
            "Chapter one": ("Research", "Cite sources."),
            "Budget": ("Research", "Be brief."),
            "Loose chat": None,
        }
    )


def test_importing_the_same_export_again_does_not_double_the_projects(workspace):
    user = workspace
    before = projects_of(user)
    data = full_export_zip(user)
    # The chats deleted, the projects kept (beside the chats it came from, unchanged, the file imports no chat).
    Conversation.objects.filter(user=user).delete()
    imports.import_file(user=user, name="export.zip", data=data)
    assert projects_of(user) == before
    assert Conversation.objects.filter(user=user, project__isnull=False).count() == 2


def test_the_import_view_takes_the_zip_with_its_projects(workspace, user_client):
    user = workspace
    data = full_export_zip(user)
    Conversation.objects.filter(user=user).delete()
    Project.objects.filter(user=user).delete()
    response = user_client.post(reverse("accounts:chats_import"), {"file": ContentFile(data, name="export.zip")})
    assert response.status_code == 302
    assert len(projects_of(user)) == 3 and chats_of(user)["Budget"] == ("Research", "Be brief.")


@pytest.mark.parametrize(
    ("projects", "message"),
    [
        ([{"name": "Fine"}, {"name": {"$ne": ""}}], r"projects\.json\[1\]\.name should be text"),
        ([{"name": ""}], r"projects\.json\[0\]\.name is empty"),
        ([{"name": "Long", "instructions": "x" * 10_001}], r"projects\.json\[0\]\.instructions is too long"),
        ([{"name": "x" * 201}], r"projects\.json\[0\]\.name is too long"),
        ({"name": "Not a list"}, r"projects\.json should be a list"),
        ([[[[["deep"]]]]], r"projects\.json\[0\] should be an object"),
        ([{"name": "Docs", "documents": "notes.md"}], r"projects\.json\[0\]\.documents should be a list"),
        ([{"name": "Docs", "documents": [{"$ne": 1}]}], r"projects\.json\[0\]\.documents\[0\] should be text"),
    ],
)
def test_a_bad_projects_file_imports_nothing(workspace, projects, message):
    user = workspace
    data = with_file(full_export_zip(user), "projects.json", json.dumps(projects).encode())
    Conversation.objects.filter(user=user).delete()
    Project.objects.filter(user=user).delete()
    with pytest.raises(import_reading.ImportRefused, match=message):
        imports.import_file(user=user, name="export.zip", data=data)
    assert not Conversation.objects.filter(user=user).exists()
    assert not Project.objects.filter(user=user).exists()


def test_a_bad_chat_after_good_projects_imports_no_project_either(workspace):
    user = workspace
    data = full_export_zip(user)
    conversations = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("conversations.json"))
    conversations["conversations"][-1]["messages"][0]["role"] = "hacker"
    data = with_file(data, "conversations.json", json.dumps(conversations).encode())
    Conversation.objects.filter(user=user).delete()
    Project.objects.filter(user=user).delete()
    with pytest.raises(import_reading.ImportRefused):
        imports.import_file(user=user, name="export.zip", data=data)
    assert not Project.objects.filter(user=user).exists()


def test_projects_past_the_cap_import_nothing(workspace, monkeypatch):
    from conversations.portability import project_import

    user = workspace
    data = full_export_zip(user)
    Conversation.objects.filter(user=user).delete()
    Project.objects.filter(user=user).delete()
    ProjectFactory(user=user, name="Already here")
    monkeypatch.setattr(project_import, "MAX_PROJECTS", 3)
    with pytest.raises(import_reading.ImportRefused, match="past 3 projects"):
        imports.import_file(user=user, name="export.zip", data=data)
    assert projects_of(user) == [("Already here", "", "")] and not Conversation.objects.filter(user=user).exists()


def test_a_chat_exported_alone_goes_back_into_the_users_project_of_that_name(user, user_client):
    project = ProjectFactory(user=user, name="Garden", instructions="Organic only.")
    conversation = chat(user, "Tomatoes", project)
    exported = user_client.get(reverse("conversations:export", args=[conversation.id, "json"])).content
    assert json.loads(exported)["conversations"][0]["project"] == "Garden"
    conversation.delete()
    [imported] = imports.import_file(user=user, name="chat.json", data=exported).created
    assert imported.project == project
    assert Project.objects.filter(user=user).count() == 1, "no project is made from a chat's name alone"


def test_another_users_project_is_never_linked(user, user_client):
    from tests.factories import UserFactory

    stranger = UserFactory()
    ProjectFactory(user=stranger, name="Secret")
    data = json.dumps({"format": exports.FORMAT, "version": 1, "conversations": [
        {"title": "Mine", "project": "Secret", "project_id": str(Project.objects.get(user=stranger).id),
         "messages": [{"id": "1", "role": "user", "content": "hi"}]},
    ]}).encode()  # fmt: skip
    [imported] = imports.import_file(user=user, name="x.json", data=data).created
    assert imported.project is None and not Project.objects.filter(user=user).exists()


def test_a_projects_documents_are_linked_again_by_title_once_the_user_has_them(workspace):
    """projects.json names each project's documents: an import links the user's own documents of those titles (the
    documents themselves are uploaded again), a second import of the same file links those uploaded since, and
    another user's document of the same title is never linked."""
    user = workspace
    thesis = Project.objects.get(user=user, description="The thesis")
    thesis.documents.add(DocumentFactory(owner=user, title="Sources.md"), DocumentFactory(owner=user, title="Plan"))
    data = full_export_zip(user)
    Conversation.objects.filter(user=user).delete()
    Project.objects.filter(user=user).delete()
    Document.objects.filter(owner=user, title="Plan").delete()  # not uploaded again yet
    DocumentFactory(owner=UserFactory(), title="Plan")  # a stranger's, same title

    imports.import_file(user=user, name="export.zip", data=data)
    project = Project.objects.get(user=user, description="The thesis")
    assert sorted(project.documents.values_list("title", flat=True)) == ["Sources.md"]

    DocumentFactory(owner=user, title="Plan")  # uploaded again
    imports.import_file(user=user, name="export.zip", data=data)
    assert sorted(project.documents.values_list("title", flat=True)) == ["Plan", "Sources.md"]
    assert Project.objects.filter(user=user, description="The thesis").count() == 1
    assert all(d.owner_id == user.id for d in project.documents.all())
