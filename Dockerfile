# One image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    ENVIRONMENT=production

RUN groupadd --system app && useradd --system --gid app --home-dir /app app
WORKDIR /app

COPY pyproject.toml requirements.lock README.md ./
COPY chatbot ./chatbot
COPY accounts ./accounts
COPY conversations ./conversations
COPY documents ./documents
# The CPU build of torch (the default index would pull several GB of CUDA libraries).
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
    && pip install -c requirements.lock .

COPY . .
# collectstatic needs settings to import; these build-time values are not used at run time (production settings
# refuse to start without KEY_ENCRYPTION_KEYS, so the build passes a throwaway one). The embedding model's ONNX graph
# is exported here, once, into the image (the app user could not write it under /app at run time).
RUN export SECRET_KEY=build-only ALLOWED_HOSTS=build DATABASE_URL=postgresql://build@localhost/build \
        REDIS_URL=redis://localhost:6379/0 KEY_ENCRYPTION_KEYS=YnVpbGQtb25seS1ub3QtdXNlZC1hdC1ydW4tdGltZS0= \
        EMBEDDING_CACHE_DIR=/app/models DJANGO_SETTINGS_MODULE=chatbot.settings \
    && STATIC_ROOT=/app/staticfiles python manage.py collectstatic --no-input -v 0 \
    && python -c "import django; django.setup(); from documents.embedding import embed_texts; embed_texts(['ready'])" \
    && mkdir -p /app/media && chown -R app:app /app/media

ENV STATIC_ROOT=/app/staticfiles MEDIA_ROOT=/app/media EMBEDDING_CACHE_DIR=/app/models
USER app
EXPOSE 8000
CMD ["gunicorn", "chatbot.asgi:application", "-k", "uvicorn_worker.UvicornWorker", "--bind", "0.0.0.0:8000", \
     "--workers", "2", "--timeout", "120", "--graceful-timeout", "30", "--access-logfile", "-"]
