"""Projects in an import: the full export's projects.json (name, description, instructions) made again, and each
imported chat put back in its project. Checked like the rest of an import (conversations/portability/imports.py):
the first problem refuses the whole file, nothing is written; the projects are written in the import's transaction.

A chat names its project by the project's id in the export ("project_id", matched in projects.json) and by name;
an export without projects.json (one chat's JSON) links a chat to the user's own project of that name, if any. A
project already there with the same name, description and instructions is reused (importing the same export twice
does not double the projects). The project's documents are not in the import (documents are uploaded again), but
projects.json names them: each project is linked again to the user's own documents of those titles, so that
uploading the documents and then importing the export (in either order: a second import of the same file links
what was uploaded since) puts the knowledge back where it was.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass

from accounts.models import User
from conversations.models import Project
from conversations.portability.import_reading import (
    MAX_IMPORT_BYTES,
    ImportRefused,
    json_error_place,
    key_field,
    list_field,
    object_field,
    text_field,
)
from conversations.projects import MAX_DESCRIPTION_LENGTH, MAX_INSTRUCTIONS_LENGTH, MAX_NAME_LENGTH, MAX_PROJECTS
from documents.models import Document

FILE = "projects.json"
MAX_DOCUMENT_TITLE = Document._meta.get_field("title").max_length


@dataclass(frozen=True)
class ParsedProject:
    key: str  # the id in the file, only to link chats
    name: str
    description: str = ""
    instructions: str = ""
    documents: tuple[str, ...] = ()  # the titles of its documents


def read_projects(archive: zipfile.ZipFile | None) -> list[ParsedProject]:
    """The projects of a full export's zip (none when the upload is not one, or holds no projects.json)."""
    if archive is None:
        return []
    info = next((i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == FILE), None)
    if info is None:
        return []
    try:
        with archive.open(info) as handle:
            content = handle.read(MAX_IMPORT_BYTES + 1)  # capped whatever the zip says
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError):
        raise ImportRefused(f"{FILE} in the zip is damaged.") from None
    if len(content) > MAX_IMPORT_BYTES:
        raise ImportRefused(f"{FILE} is too large.")
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except RecursionError:
        raise ImportRefused(f"{FILE} is nested too deeply.") from None
    except ValueError as exc:  # UnicodeDecodeError is one
        raise ImportRefused(f"{FILE} is not valid JSON{json_error_place(exc)}.") from None
    return parse_projects(document)


def parse_projects(document: object) -> list[ParsedProject]:
    if not isinstance(document, list):
        raise ImportRefused(f"{FILE} should be a list.")
    parsed = []
    for n, value in enumerate(list_field(document, FILE, limit=MAX_PROJECTS)):
        where = f"{FILE}[{n}]"
        data = object_field(value, where)
        name = text_field(data.get("name"), f"{where}.name", limit=MAX_NAME_LENGTH, required=True).strip()
        if not name:
            raise ImportRefused(f"{where}.name is empty.")
        key = data.get("id")
        parsed.append(
            ParsedProject(
                key=key_field(key, f"{where}.id") if key is not None else "",
                name=name,
                description=text_field(data.get("description"), f"{where}.description", limit=MAX_DESCRIPTION_LENGTH),
                instructions=text_field(
                    data.get("instructions"), f"{where}.instructions", limit=MAX_INSTRUCTIONS_LENGTH
                ),
                documents=tuple(
                    text_field(title, f"{where}.documents[{i}]", limit=MAX_DOCUMENT_TITLE).strip()
                    for i, title in enumerate(list_field(data.get("documents"), f"{where}.documents", limit=10_000))
                ),
            )
        )
    return parsed


class ProjectLinks:
    """Which of the user's projects an imported chat goes into."""

    def __init__(self, *, user: User, by_key: dict[str, Project], by_name: dict[str, Project]) -> None:
        self.user = user
        self.by_key = by_key
        self.by_name = by_name

    def find(self, *, key: str, name: str) -> Project | None:
        if key and key in self.by_key:
            return self.by_key[key]
        if not name:
            return None
        if name not in self.by_name:
            # A chat exported alone: its project, if the user has one of that name (the oldest).
            self.by_name[name] = Project.objects.filter(user=self.user, name=name).order_by("created_at").first()
        return self.by_name[name]


def projects_import(*, user: User, projects: list[ParsedProject]) -> ProjectLinks:
    """Create the file's projects for `user` (new ids; an identical one already there is reused). Call inside the
    import's transaction: a refusal later undoes them with the chats."""
    by_key: dict[str, Project] = {}
    by_name: dict[str, Project] = {}
    existing = list(Project.objects.filter(user=user).order_by("created_at"))
    new = [p for p in projects if not _same(p, existing)]
    if len(existing) + len(new) > MAX_PROJECTS:
        raise ImportRefused(
            f"The import would take you past {MAX_PROJECTS} projects ({len(existing)} now, {len(new)} in the file)."
        )
    for parsed in projects:
        project = _same(parsed, existing) or Project.objects.create(
            user=user, name=parsed.name, description=parsed.description, instructions=parsed.instructions
        )
        if project not in existing:
            existing.append(project)
        titles = [title for title in parsed.documents if title]
        if titles:
            project.documents.add(*Document.objects.filter(owner=user, title__in=titles))
        if parsed.key:
            by_key[parsed.key] = project
        by_name.setdefault(parsed.name, project)
    return ProjectLinks(user=user, by_key=by_key, by_name=by_name)


def _same(parsed: ParsedProject, existing: list[Project]) -> Project | None:
    return next(
        (
            p
            for p in existing
            if (p.name, p.description, p.instructions) == (parsed.name, parsed.description, parsed.instructions)
        ),
        None,
    )
