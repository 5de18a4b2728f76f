from __future__ import annotations

import uuid

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 at production strength costs ~0.3 s per login; tests log in hundreds of times.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real Celery worker in its own process, on the embedded Redis and the test database."""
    from chatbot.celery import app
    from tests.processes import celery_command, child_environment, running

    name = f"test-{uuid.uuid4().hex[:8]}@localhost"

    def ready() -> bool:
        return any(name in reply for reply in app.control.ping(destination=[name], timeout=0.5))

    from django.conf import settings

    # The worker reads the files this test's uploads wrote, so it shares the test's media folder.
    environment = child_environment(MEDIA_ROOT=str(settings.MEDIA_ROOT))
    with running(celery_command("-n", name), environment=environment, ready=ready) as process:
        yield process


@pytest.fixture(autouse=True)
def _media_in_a_temporary_folder(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(scope="session")
def fake_anthropic_server():
    from tests.fake_anthropic import FakeAnthropic

    server = FakeAnthropic().start()
    yield server
    server.stop()


@pytest.fixture
def fake_anthropic(fake_anthropic_server, settings):
    """The fake Anthropic API, reset, with the app pointed at it."""
    fake_anthropic_server.reset()
    settings.ANTHROPIC_BASE_URL = fake_anthropic_server.url
    settings.ANTHROPIC_API_KEY = ""
    return fake_anthropic_server


LIVE_METRICS_TOKEN = "live-metrics-token-for-tests"
OPENAI_COMPATIBLE = ("openai", "xai", "groq", "deepseek", "mistral", "perplexity")


@pytest.fixture(scope="session")
def fake_openai_server():
    from tests.fake_openai import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server, settings):
    """The fake OpenAI-compatible API, reset, with every OpenAI-compatible provider pointed at it (no operator keys)."""
    fake_openai_server.reset()
    for provider in OPENAI_COMPATIBLE:
        setattr(settings, f"{provider.upper()}_BASE_URL", fake_openai_server.base_url(provider))
        setattr(settings, f"{provider.upper()}_API_KEY", "")
    settings.OLLAMA_BASE_URL = ""
    return fake_openai_server


@pytest.fixture(scope="session")
def fake_gemini_server():
    from tests.fake_gemini import FakeGemini

    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture
def fake_gemini(fake_gemini_server, settings):
    """The fake Gemini API, reset, with the app pointed at it (no operator key)."""
    fake_gemini_server.reset()
    settings.GOOGLE_BASE_URL = fake_gemini_server.url
    settings.GOOGLE_API_KEY = ""
    return fake_gemini_server


@pytest.fixture
def user(db):
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture(scope="session")
def live_app(django_db_setup, django_db_blocker, fake_anthropic_server, fake_openai_server, fake_gemini_server,
             tmp_path_factory):  # fmt: skip
    """The app under uvicorn against the test database, for the whole session; tests use transactional_db.

    Every provider points at its fake, with no operator key; users may set base URLs, and 127.0.0.1 (where the
    fakes run) is allow-listed for them. Ollama is left unset: set, it would be every user's provider.
    """
    from tests.live import LiveApp, uvicorn_command
    from tests.processes import child_environment, free_port, running

    port = free_port()
    email_dir = tmp_path_factory.mktemp("emails")
    url = f"http://127.0.0.1:{port}"
    environment = child_environment(
        ANTHROPIC_BASE_URL=fake_anthropic_server.url,
        ANTHROPIC_API_KEY="",
        **{f"{p.upper()}_BASE_URL": fake_openai_server.base_url(p) for p in OPENAI_COMPATIBLE},
        **{f"{p.upper()}_API_KEY": "" for p in (*OPENAI_COMPATIBLE, "google")},
        GOOGLE_BASE_URL=fake_gemini_server.url,
        OLLAMA_BASE_URL="",
        ALLOW_USER_BASE_URLS="true",
        USER_BASE_URL_ALLOWED_HOSTS="127.0.0.1",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(email_dir),
        MEDIA_ROOT=str(tmp_path_factory.mktemp("live-media")),
        METRICS_TOKEN=LIVE_METRICS_TOKEN,
    )

    def ready() -> bool:
        import httpx

        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with django_db_blocker.unblock(), running(uvicorn_command(port), environment=environment, ready=ready):
        yield LiveApp(url=url, email_dir=str(email_dir))


@pytest.fixture
def live_client(live_app, transactional_db, fake_anthropic, fake_openai, fake_gemini):
    """A signed-in client of the live app; `live_client(user)` for another user."""
    from tests.factories import UserFactory
    from tests.live import LiveClient, settle_live_app

    clients = []

    def make(user=None):
        client = LiveClient(app=live_app, user=user or UserFactory())
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.http.close()
    settle_live_app()  # before the tables are emptied: the server may still be writing


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright (no browser download: nothing is fetched at run time)."""
    import os

    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM calls are still
    # plain synchronous code, so Django's guard against ORM use inside a coroutine does not apply.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser, live_app):
    """Open a page in a fresh browser profile (own cookies); call again for a second device."""
    from tests.live import settle_live_app

    contexts = []

    def make(**options):  # options for the browser context (java_script_enabled=False, ...)
        context = browser.new_context(base_url=live_app.url, viewport={"width": 1280, "height": 900}, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    settle_live_app()  # before the tables are emptied: the server may still be writing


def pytest_collection_modifyitems(config, items):
    # Browser tests last: Playwright's sync API leaves an event loop running in the main thread for the rest of
    # the session, and Django's test client cannot call async views from a thread with a running loop.
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
