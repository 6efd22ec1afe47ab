# The two commands of the README: `make plan STACK=dev` and `make test`. Both create .venv
# (the virtualenv Pulumi.yaml names) and install the project into it when it is missing or stale.
STACK ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: plan test lint typecheck unit preview up bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

plan: $(STAMP)
	$(BIN)/inferstack plan $(STACK)

lint: $(STAMP)
	$(BIN)/ruff check infra inferstack policies tests
	$(BIN)/ruff format --check infra inferstack policies tests

typecheck: $(STAMP)
	$(BIN)/pyright

unit: $(STAMP)
	$(BIN)/pytest

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/inferstack bench

# Regenerate the README's command output (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m inferstack.docs README.md

# The real path: needs the Pulumi CLI and cloud credentials.
preview: $(STAMP)
	pulumi preview --stack $(STACK) --policy-pack policies --diff

up: $(STAMP)
	pulumi up --stack $(STACK) --policy-pack policies

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
