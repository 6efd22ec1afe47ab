# The two commands of the README: `make plan STACK=dev` and `make test`. Both create .venv
# (the virtualenv Pulumi.yaml names) and install the project into it when it is missing or stale.
STACK ?= dev
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Checkov in its own virtualenv: its pinned dependencies clash with this project's. The tests
# run this binary (INFERSTACK_CHECKOV) on the export of every stack.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
export INFERSTACK_CHECKOV := $(CURDIR)/$(CHECKOV_VENV)/bin/checkov

.PHONY: plan test lint typecheck unit promtool preview up bench docs checkov checkov-venv clean FORCE

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	rm -f $(CHECKOV_VENV)/.installed-*
	touch $(CHECKOV_STAMP)

checkov-venv: $(CHECKOV_STAMP)

plan: $(STAMP)
	$(BIN)/inferstack plan $(STACK)

lint: $(STAMP)
	$(BIN)/ruff check infra inferstack policies bootstrap tests
	$(BIN)/ruff format --check infra inferstack policies bootstrap tests

typecheck: $(STAMP)
	$(BIN)/pyright

unit: $(STAMP) $(CHECKOV_STAMP) promtool
	$(BIN)/pytest

# promtool checks and tests the alert rules. Debian's `prometheus` package carries it (2.42) and
# installs without starting a daemon in a container; as root it is installed when missing, anyone
# else is told how.
promtool:
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus; \
	  else echo "promtool is missing: sudo apt-get install prometheus (Debian/Ubuntu), then make unit again" >&2; exit 1; fi; }

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/inferstack bench

# Regenerate the README's command output (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python -m inferstack.docs README.md

# Checkov on the export of every stack: checks passed/failed per stack, the skip list, the time.
checkov: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/python -m inferstack.scan

# The real path: needs the Pulumi CLI and cloud credentials. The pack runs with the stack's policy
# config (its environment's levels and settings, its budget), the one `inferstack plan` applies.
POLICY_CONFIG := out/policy-config-$(STACK).json

$(POLICY_CONFIG): $(STAMP) FORCE
	@mkdir -p out
	$(BIN)/inferstack policy-config $(STACK) --out $@

preview: $(STAMP) $(POLICY_CONFIG)
	pulumi preview --stack $(STACK) --policy-pack policies --policy-pack-config $(POLICY_CONFIG) --diff

up: $(STAMP) $(POLICY_CONFIG)
	pulumi up --stack $(STACK) --policy-pack policies --policy-pack-config $(POLICY_CONFIG)

FORCE:

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache *.egg-info
