# `make run` and `make test` set everything up on a fresh clone: a virtualenv, the Python packages,
# an embedded PostgreSQL+pgvector and Redis (unless DATABASE_URL / REDIS_URL are set).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -c1-12)
export HF_HUB_OFFLINE := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint format install lock stop services-shell clean

run: $(STAMP)
	$(BIN)/python manage.py collectstatic --no-input -v 0
	$(BIN)/python -m chatbot.embedded run

test: $(STAMP)
	scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	VAR_DIR=$(CURDIR)/var/test $(BIN)/python -m chatbot.embedded exec -- $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	# torch first, pinned: the local CPU wheel, not the registry's multi-GB CUDA build.
	$(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Re-resolve the pinned versions after changing dependencies in pyproject.toml.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade "pip>=24"
	.venv-lock/bin/python -m pip install -q "torch==2.13.0"
	.venv-lock/bin/python -m pip install -q -e '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' > requirements.lock
	rm -rf .venv-lock

# Stop embedded servers left running by a killed `make run`.
stop: $(STAMP)
	$(BIN)/python -m chatbot.embedded stop

# A shell with DATABASE_URL/REDIS_URL pointing at running embedded servers, for manage.py commands.
services-shell: $(STAMP)
	$(BIN)/python -m chatbot.embedded exec -- $$SHELL

clean:
	rm -rf $(VENV) var/static
