"""A demo account with conversations and documents, to try the app without uploading anything.

load_demo() rebuilds the account from scratch on every run, in one transaction. The passages are embedded by
the same model as uploads (offline, a few seconds with the model's load), so the demo shows retrieval as it is;
`pseudo_embeddings` gives deterministic pseudo-random unit vectors instead, for tests that need no ranking.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from accounts.models import AutoApprovalSettings, Preferences, RetrievalSettings, User
from conversations.models import Conversation, Message, Project, UsageLog, Vote
from documents.chunking import CHUNKER_VERSION
from documents.models import Chunk, Document, DocumentVersion, Suggestion
from documents.parsing import Section
from documents.retrieval import RRF_K
from documents.retrieval import Source as RetrievedSource

DEFAULT_EMAIL = "demo@example.com"
DEFAULT_PASSWORD = "demo-password-123"
DISPLAY_NAME = "Demo User"
OFFLINE = "offline"
# Marks every conversation and document load_demo makes, so it never wipes an account a person uses.
DEMO_MARKER = {"demo": True}


class NotADemoAccount(ValueError):
    """The email belongs to an account with data of its own; replacing it would destroy that data."""


@dataclass(frozen=True)
class DocumentSpec:
    title: str
    original_name: str
    sections: tuple[Section, ...]
    # Sections left out of version 1, to give the document a history.
    added_in_version_2: int = 0


@dataclass(frozen=True)
class Source:
    chapter: str
    section: str
    score: float


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str
    sources: tuple[Source, ...] = ()


@dataclass(frozen=True)
class ConversationSpec:
    title: str
    in_project: bool
    turns: tuple[Turn, ...]
    pinned: bool = False


ROS2 = DocumentSpec(
    title="ROS 2 architecture notes",
    original_name="ros2-architecture.md",
    added_in_version_2=1,
    sections=(
        Section(
            "Communication",
            "Nodes and the ROS graph",
            "A ROS 2 system is a graph of nodes: processes, or components inside a process, that each do one job "
            "such as driving a motor, reading a lidar or planning a path. Nodes discover each other through the "
            "middleware without a central master, so a node can join or leave while the rest keeps running. "
            "Several nodes can share one process through composition, which removes serialisation between them "
            "when they exchange large messages such as point clouds.",
        ),
        Section(
            "Communication",
            "Topics",
            "Topics are named, typed streams for continuous data. A publisher writes messages of one interface "
            "type, for example sensor_msgs/msg/LaserScan, and any number of subscribers receive them. Neither side "
            "knows about the other, which is why topics suit sensor data, odometry and state that many consumers "
            "read. A topic never returns an answer: when a caller needs a result, use a service or an action.",
        ),
        Section(
            "Communication",
            "Services and actions",
            "A service is a request and a response, for short calls such as resetting an odometry estimate or "
            "asking for a map. The client can wait on the response future, but must not block the executor that "
            "delivers it. An action is for long-running goals such as navigating to a pose: the client sends a "
            "goal, receives feedback while it runs, can cancel it, and finally gets a result.",
        ),
        Section(
            "Middleware",
            "DDS and quality of service",
            "ROS 2 runs on DDS implementations through the rmw layer. Quality-of-service profiles decide how "
            "messages travel: reliable delivery retransmits lost samples, best effort drops them, and a history "
            "depth bounds the queue. Sensor streams usually use the sensor data profile, best effort with a small "
            "depth, because a fresh scan is worth more than an old one. Publisher and subscriber profiles must be "
            "compatible, otherwise they silently never connect; ros2 topic info --verbose shows the profiles.",
        ),
        Section(
            "Execution",
            "Executors and callback groups",
            "Callbacks run when an executor spins. The single-threaded executor runs one callback at a time, which "
            "is simple and safe. The multi-threaded executor runs callbacks in parallel, limited by callback "
            "groups: callbacks in a mutually exclusive group never overlap, callbacks in a reentrant group may. "
            "Waiting on a service response from inside a callback deadlocks a single-threaded executor, a common "
            "first surprise.",
        ),
        Section(
            "Execution",
            "Lifecycle nodes",
            "A lifecycle node moves through unconfigured, inactive, active and finalized states. Configuration "
            "happens in on_configure, where the node reads parameters and allocates resources, and publishing "
            "starts only in on_activate. A launch file or a lifecycle manager drives the transitions, so a "
            "camera driver can be brought up, checked and activated in a known order, and deactivated without "
            "being killed.",
        ),
        Section(
            "Tooling",
            "Launch files and parameters",
            "Launch files, written in Python, XML or YAML, start many nodes with their parameters, remappings and "
            "namespaces. Parameters are declared by each node with a type and a default, and can be loaded from a "
            "YAML file at launch or changed at run time with ros2 param set; a callback can validate a change "
            "before it is accepted.",
        ),
    ),
)

COOKING = DocumentSpec(
    title="A weeknight cooking guide",
    original_name="weeknight-cooking.md",
    sections=(
        Section(
            "Before the stove",
            "Mise en place",
            "Read the whole recipe, then measure, chop and set out every ingredient before any heat goes on. "
            "Weeknight dishes cook fast: garlic goes from fragrant to bitter in under a minute, and there is no "
            "time to mince shallots while the pan is hot. Small bowls, or just piles on a board in the order "
            "they are used, keep the cooking itself calm.",
        ),
        Section(
            "Before the stove",
            "Knife basics",
            "A sharp chef's knife is safer than a dull one, because it bites instead of slipping. Curl the "
            "fingertips of the guiding hand and keep the knuckles against the flat of the blade. Cut pieces to "
            "the same size so they cook at the same rate; a rough dice of one centimetre suits most sautés.",
        ),
        Section(
            "Heat",
            "Searing",
            "Pat meat or fish dry and salt it ahead. Heat the pan first, then the oil, until it smokes, and lay "
            "the pieces in without crowding: a crowded pan steams instead of browning. Leave them alone until "
            "they release from the pan by themselves, which is the sign that a crust has formed.",
        ),
        Section(
            "Heat",
            "Pan sauces",
            "The browned bits left after searing are the base of a pan sauce. Pour off most of the fat, soften a "
            "chopped shallot, then deglaze with a splash of wine or stock and scrape the bottom. Reduce by half, "
            "take the pan off the heat and swirl in a knob of cold butter; finish with lemon juice or mustard "
            "and taste for salt.",
        ),
        Section(
            "Staples",
            "Pasta",
            "Use a large pot of well-salted water at a rolling boil and stir in the first minute so the pasta "
            "does not stick. Cook one minute less than the packet says, keep a mug of the starchy water, and "
            "finish the pasta in the sauce with a splash of that water: the starch binds sauce and pasta "
            "together.",
        ),
        Section(
            "Staples",
            "Seasoning and tasting",
            "Season in layers: a little salt at each stage rather than all at the end. Taste before serving and "
            "adjust with salt for flatness, acid such as lemon or vinegar for heaviness, and a pinch of sugar "
            "for sharpness. Fresh herbs go in at the end; dried ones early, to bloom in the fat.",
        ),
    ),
)

DOCUMENTS = (ROS2, COOKING)

CONVERSATIONS = (
    ConversationSpec(
        title="How ROS 2 nodes talk to each other",
        in_project=True,
        pinned=True,
        turns=(
            Turn(
                "When should I use a topic and when a service in ROS 2?",
                "Use a **topic** for continuous data that many nodes may read, such as laser scans or odometry: "
                "publishers and subscribers don't know about each other and nothing is returned [1].\n\n"
                "Use a **service** when the caller needs an answer to a short request, for example resetting "
                "an odometry estimate. If the work takes long and you want feedback or the ability to cancel, "
                "use an **action** instead [2].",
                (
                    Source("Communication", "Topics", 0.82),
                    Source("Communication", "Services and actions", 0.79),
                ),
            ),
            Turn(
                "My subscriber never receives the lidar scans, but ros2 topic list shows the topic. Why?",
                "The most likely cause is a quality-of-service mismatch. Lidar drivers usually publish with the "
                "sensor data profile (best effort). A subscriber asking for *reliable* delivery is incompatible "
                "with a best-effort publisher, and the two silently never connect [1].\n\n"
                "Run `ros2 topic info /scan --verbose` to compare the profiles, and subscribe with "
                "`rclpy.qos.qos_profile_sensor_data`.",
                (Source("Middleware", "DDS and quality of service", 0.88),),
            ),
            Turn(
                "Calling a service from inside a timer callback hangs forever.",
                "That is the classic executor deadlock: with a single-threaded executor, the timer callback "
                "blocks while it waits, so the executor can never run the callback that delivers the response [1].\n"
                "\nEither call the service asynchronously and handle the future in a done-callback, or use a "
                "multi-threaded executor with the client in a separate (or reentrant) callback group [1][2].",
                (
                    Source("Execution", "Executors and callback groups", 0.91),
                    Source("Communication", "Services and actions", 0.64),
                ),
            ),
        ),
    ),
    ConversationSpec(
        title="Lifecycle node for a camera driver",
        in_project=True,
        turns=(
            Turn(
                "Should my camera driver be a lifecycle node?",
                "Yes, it is a good fit. In `on_configure` read the parameters and open the device; start "
                "publishing only in `on_activate`. A launch file or lifecycle manager can then bring the camera "
                "up in a known order and deactivate it without killing the process [1].",
                (Source("Execution", "Lifecycle nodes", 0.86),),
            ),
            Turn(
                "And how do I pass the resolution and frame rate?",
                "Declare them as parameters with a type and a default, e.g. `width`, `height` and `fps`, and "
                "load them from a YAML file in the launch file. To change them at run time, add a parameter "
                "callback that rejects values the camera does not support [1].",
                (Source("Tooling", "Launch files and parameters", 0.84),),
            ),
        ),
    ),
    ConversationSpec(
        title="Quick pan sauce after searing chicken",
        in_project=False,
        turns=(
            Turn(
                "I just seared chicken thighs. How do I make a quick sauce in the same pan?",
                "1. Pour off most of the fat and soften a chopped shallot.\n"
                "2. Deglaze with a splash of white wine or stock and scrape up the browned bits.\n"
                "3. Reduce by half, take the pan off the heat and swirl in a knob of cold butter.\n"
                "4. Finish with lemon juice or a spoon of mustard, then taste for salt [1][2].",
                (
                    Source("Heat", "Pan sauces", 0.93),
                    Source("Staples", "Seasoning and tasting", 0.58),
                ),
            ),
            Turn(
                "It tastes a bit flat.",
                "Flatness usually means it needs salt; heaviness calls for acid. Add a pinch of salt first, "
                "taste, then a few drops of lemon juice if it still feels heavy [1].",
                (Source("Staples", "Seasoning and tasting", 0.9),),
            ),
        ),
    ),
)


def pseudo_embedding(seed: str, dimensions: int) -> list[float]:
    """A unit vector that depends only on seed: the same demo on every run and every machine."""
    rng = random.Random(hashlib.sha256(seed.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(value * value for value in values))
    return [value / norm for value in values]


def _render(spec: DocumentSpec, sections: Sequence[Section]) -> tuple[str, list[tuple[Section, int, int]]]:
    """The document as Markdown, and where each section's text lies in it."""
    pieces = [f"# {spec.title}\n\n"]
    length = len(pieces[0])
    spans = []
    chapter = None
    for section in sections:
        headings = "" if section.chapter == chapter else f"## {section.chapter}\n\n"
        headings += f"### {section.section}\n\n"
        chapter = section.chapter
        start = length + len(headings)
        pieces += [headings, section.text, "\n\n"]
        length = start + len(section.text) + 2
        spans.append((section, start, start + len(section.text)))
    return "".join(pieces), spans


def _token_estimate(text: str) -> int:
    # Roughly what subword tokenizers produce for English prose; the demo has no tokenizer to ask.
    return math.ceil(len(text.split()) * 4 / 3)


class _Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, *objects: models.Model) -> None:
        for obj in objects:
            self.counts[obj._meta.label] += 1


def pseudo_embeddings(texts: list[str]) -> list[list[float]]:
    return [pseudo_embedding(text, settings.EMBEDDING_DIMENSIONS) for text in texts]


def _create_document(
    user: User, spec: DocumentSpec, created_at: datetime, vectors: dict[str, list[float]], tally: _Tally
) -> tuple[Document, list[Chunk]]:
    content, spans = _render(spec, spec.sections)
    document = Document.objects.create(
        owner=user,
        title=spec.title,
        kind=Document.Kind.TEXT,
        source=Document.Source.MANUAL,
        original_name=spec.original_name,
        mime_type="text/markdown",
        size=len(content.encode()),
        content_hash=hashlib.sha256(content.encode()).hexdigest(),
        status=Document.Status.READY,
        progress=100,
        chunk_count=len(spans),
        # Its passages are cut by its sections here, embedded by the configured model: as current as the chunker's
        # (the admin's System page counted every demo document as waiting for `manage.py reindex`).
        metadata={**DEMO_MARKER, "chunker": CHUNKER_VERSION, "embedding_model": settings.EMBEDDING_MODEL},
        created_at=created_at,
    )
    tally.add(document)

    contents = [content]
    if spec.added_in_version_2:
        contents.insert(0, _render(spec, spec.sections[: -spec.added_in_version_2])[0])
    versions = DocumentVersion.objects.bulk_create(
        DocumentVersion(
            document=document,
            number=number,
            content=text,
            created_by=DocumentVersion.Author.USER,
            author=user,
            created_at=created_at + timedelta(days=number - 1),
        )
        for number, text in enumerate(contents, start=1)
    )
    tally.add(*versions)

    chunks = Chunk.objects.bulk_create(
        Chunk(
            document=document,
            owner=document.owner,
            ordinal=ordinal,
            text=section.text,
            chapter=section.chapter,
            section=section.section,
            char_start=start,
            char_end=end,
            token_count=_token_estimate(section.text),
            embedding=vectors[section.text],
            created_at=versions[-1].created_at,
        )
        for ordinal, (section, start, end) in enumerate(spans)
    )
    tally.add(*chunks)
    return document, chunks


def _cited(passages: dict[tuple[str, str], Chunk], source: Source, number: int) -> dict:
    """A source as a real reply stores it: the chunk's id, title and text, so the page can show and link it."""
    chunk = passages[source.chapter, source.section]
    return RetrievedSource(
        number=number,
        chunk_id=chunk.id,
        document_id=chunk.document_id,
        title=chunk.document.title,
        chapter=chunk.chapter,
        section=chunk.section,
        text=chunk.text,
        char_start=chunk.char_start,
        char_end=chunk.char_end,
        score=1 / (RRF_K + number),
        similarity=source.score,
    ).as_metadata()


def _create_conversation(
    user: User,
    spec: ConversationSpec,
    project: Project,
    started_at: datetime,
    passages: dict[tuple[str, str], Chunk],
    tally: _Tally,
) -> list[Message]:
    conversation = Conversation.objects.create(
        user=user,
        project=project if spec.in_project else None,
        title=spec.title,
        provider=OFFLINE,
        model=OFFLINE,
        pinned=spec.pinned,
        metadata=dict(DEMO_MARKER),
        created_at=started_at,
        updated_at=started_at,
    )
    tally.add(conversation)

    messages: list[Message] = []
    at = started_at
    for turn in spec.turns:
        question = Message(
            conversation=conversation,
            author=user,
            parent=messages[-1] if messages else None,
            role=Message.Role.USER,
            content=turn.question,
            created_at=at,
        )
        at += timedelta(seconds=4)
        answer = Message(
            conversation=conversation,
            parent=question,
            role=Message.Role.ASSISTANT,
            content=turn.answer,
            provider=OFFLINE,
            model=OFFLINE,
            input_tokens=_token_estimate(turn.question) + 40 * len(turn.sources),
            output_tokens=_token_estimate(turn.answer),
            latency_ms=180 + 15 * len(turn.answer.split()),
            time_to_first_token_ms=120,
            metadata={"sources": [_cited(passages, source, number) for number, source in enumerate(turn.sources, 1)]},
            created_at=at,
        )
        messages += [question, answer]
        at += timedelta(minutes=3)
    # One statement for the whole thread: the UUIDs are set in Python, so parents can be referenced before insert.
    Message.objects.bulk_create(messages)
    tally.add(*messages)

    # The next message sent continues from the active leaf; without one it would start a new thread.
    Conversation.objects.filter(pk=conversation.pk).update(active_leaf=messages[-1], updated_at=messages[-1].created_at)
    return messages


def _replace_existing(email: str) -> None:
    existing = User.objects.filter(email__iexact=email).first()
    if existing is None:
        return
    made_elsewhere = (
        existing.is_staff
        or existing.is_superuser
        or existing.conversations.exclude(metadata__contains=DEMO_MARKER).exists()
        or existing.documents.exclude(metadata__contains=DEMO_MARKER).exists()
    )
    if made_elsewhere:
        raise NotADemoAccount(f"{email} is an account with data of its own, not a demo account; it was left alone.")
    existing.delete()


def load_demo(
    *, email: str, password: str, embed: Callable[[list[str]], list[list[float]]] | None = None
) -> dict[str, int]:
    """Create the demo account, replacing a previous demo account with that email; returns rows per model.

    `embed` turns passages into vectors; by default the embedding model's, computed before the transaction opens.
    """
    if embed is None:
        from documents.embedding import embed_texts as embed
    email = email.strip().lower()
    texts = sorted({section.text for spec in DOCUMENTS for section in spec.sections})
    vectors = dict(zip(texts, embed(texts), strict=True))
    tally = _Tally()
    now = timezone.now()
    with transaction.atomic():
        _replace_existing(email)

        user = User.objects.create_user(
            email=email,
            password=password,
            display_name=DISPLAY_NAME,
            last_active_at=now,
            created_at=now - timedelta(days=14),
        )
        # Sign-in through the app requires a verified address (ACCOUNT_EMAIL_VERIFICATION is mandatory by default).
        address = EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        preferences = Preferences.objects.create(user=user, default_model=OFFLINE)
        retrieval = RetrievalSettings.objects.create(user=user, max_results=5, similarity_threshold=0.3)
        approval = AutoApprovalSettings.objects.create(user=user, read_only_operations=True)
        project = Project.objects.create(
            user=user,
            name="Kitchen robot",
            description="A ROS 2 robot that follows recipes: software notes and the recipes themselves.",
            created_at=now - timedelta(days=13),
        )
        tally.add(user, address, preferences, retrieval, approval, project)

        created = [
            _create_document(user, spec, now - timedelta(days=12 - index), vectors, tally)
            for index, spec in enumerate(DOCUMENTS)
        ]
        documents = [document for document, _ in created]
        cooking_v1 = documents[1].versions.get(number=1)
        suggestion = Suggestion.objects.create(
            version=cooking_v1,
            user=user,
            original_text="until it smokes",
            suggested_text="until it shimmers",
            description="Smoking oil is past its best; add the meat when the oil shimmers.",
        )
        tally.add(suggestion)

        # A turn's sources name their passage by chapter and section, unique across the demo documents.
        passages = {(chunk.chapter, chunk.section): chunk for _, chunks in created for chunk in chunks}
        conversations = [
            _create_conversation(
                user, spec, project, now - timedelta(days=len(CONVERSATIONS) - index, hours=2), passages, tally
            )
            for index, spec in enumerate(CONVERSATIONS)
        ]
        first_answer = conversations[0][1]
        vote = Vote.objects.create(
            conversation=first_answer.conversation,
            message=first_answer,
            user=user,
            is_upvoted=True,
            rating=5,
            comment="Clear, and the sources were the right sections.",
        )
        last_answer = conversations[-1][-1]
        usage = UsageLog.objects.create(
            user=user,
            conversation=last_answer.conversation,
            message=last_answer,
            provider=OFFLINE,
            model=OFFLINE,
            input_tokens=last_answer.input_tokens or 0,
            output_tokens=last_answer.output_tokens or 0,
            cost=Decimal("0"),
            created_at=last_answer.created_at,
        )
        tally.add(vote, usage)
    return dict(sorted(tally.counts.items()))
