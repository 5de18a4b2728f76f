import os
import re
import subprocess
import sys

import pytest

from tests.processes import BASE_DIR

SETTINGS_SOURCE = (BASE_DIR / "chatbot" / "settings.py").read_text()
VARIABLES = sorted(set(re.findall(r'env(?:_bool|_int|_float|_list)?\(\s*"([A-Z_]+)"', SETTINGS_SOURCE)))


def test_settings_read_some_variables():
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(VARIABLES)


@pytest.mark.parametrize("name", VARIABLES)
def test_every_variable_is_documented_in_readme_and_env_example(name):
    assert f"`{name}`" in (BASE_DIR / "README.md").read_text(), f"{name} missing from README's table"
    assert re.search(rf"^{name}=", (BASE_DIR / ".env.example").read_text(), re.M), f"{name} missing from .env.example"


def run_manage(*args: str, **environment: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **environment}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_production_settings_pass_check_deploy_with_no_warnings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        ENVIRONMENT="production",
        SECRET_KEY="x" * 20 + "a-real-looking-secret-key-with-entropy-9f8e7d6c5b4a",
        ALLOWED_HOSTS="chat.example.com",
        KEY_ENCRYPTION_KEYS="Z2VuZXJhdGVkLWZvci10aGUtZGVwbG95LWNoZWNrLSE=",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = run_manage("check", ENVIRONMENT="production", SECRET_KEY="", ALLOWED_HOSTS="x", KEY_ENCRYPTION_KEYS="")
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file-" + "k" * 50 + "\n")
    result = run_manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.SECRET_KEY)",
        SECRET_KEY_FILE=str(secret_file),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "from-a-file-" + "k" * 50


@pytest.mark.slow
@pytest.mark.django_db
def test_migrations_are_complete():
    result = run_manage("makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_key_encryption_keys():
    result = run_manage(
        "check", ENVIRONMENT="production", SECRET_KEY="s" * 60, ALLOWED_HOSTS="x", KEY_ENCRYPTION_KEYS=""
    )
    assert result.returncode != 0
    assert "KEY_ENCRYPTION_KEYS must be set" in result.stderr


def test_a_mistyped_key_encryption_key_stops_the_app_at_start():
    # An operator's walk: a key that is no Fernet key let every process start; saving or using an API key then
    # failed (a 500), and `rotate_keys` stopped with a traceback.
    result = run_manage("check", KEY_ENCRYPTION_KEYS="Z2VuZXJhdGVkLWZvci10aGUtZGVwbG95LWNoZWNrLSE=,not-a-key")
    assert result.returncode != 0
    assert "KEY_ENCRYPTION_KEYS entry 2 of 2 is not a Fernet key" in result.stderr
