# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run env test lint schema graphiql-assets clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the service: embedded PostgreSQL unless DATABASE_URL is set, migrations, demo key, GraphiQL.
run: $(STAMP)
	$(BIN)/finora dev

## The demo's key and business id (and finora on PATH) as export lines: eval "$(make -s env)".
env: $(STAMP)
	@$(BIN)/finora dev --print-env

## Every test, against TEST_DATABASE_URL / DATABASE_URL, else the embedded PostgreSQL.
test: $(STAMP)
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app schema tests bench scripts
	$(BIN)/ruff format --check app schema tests bench scripts

## Fetch GraphiQL's files from the npm registry (pinned versions), verify their hashes, write the manifest.
graphiql-assets: $(STAMP)
	$(BIN)/python scripts/graphiql_assets.py

schema: $(STAMP)
	@$(BIN)/finora schema

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
