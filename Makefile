# Two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export CDK_DISABLE_CLI_TELEMETRY := true
# Node.js 22 LTS from package.json (the npm package `node`), first on PATH: the CDK CLI and the jsii
# runtime that aws-cdk-lib's Python bindings start run on it, whatever Node the machine has.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup test lint browser demo walkthrough bench bench-quick reliability-long clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml infra/assets/powertools-layer/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $@

test: setup node_modules/.installed browser lint
	$(PY) -m pytest

# Static checks (configuration in pyproject.toml): ruff everywhere; mypy strict on the Lambda code, the MTurk
# simulator and the CLI, pragmatic on the CDK app and the offline stack; the test fakes against the ports.
MYPY_TARGETS := lambdas/mturk_decisions mturk_decisions_cli local infra app.py tests/fakes.py tests/static/test_ports.py
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(MYPY_TARGETS)

# Debian's Chromium for the browser tests (tests/docs_ui, driven by Playwright from requirements-dev.txt):
# installed with apt-get once, when /usr/bin/chromium is missing; no test tool ever downloads a browser.
CHROMIUM := /usr/bin/chromium
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  $(APT_GET) update -qq && \
	  $(APT_GET) install -y -qq --no-install-recommends chromium >/dev/null; \
	fi
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is missing: install Debian's chromium package." >&2; exit 1; }

demo: setup
	$(PY) -m local.demo

# Against a running `make demo`, from another terminal.
walkthrough: setup
	$(PY) -m local.walkthrough

# The running demo seeded again: new assignments and ids, no restart (prints the new variables). Another
# demo than the one on 8787: DEMO_API_PORT=<port> make demo-reset (also for demo and walkthrough).
.PHONY: demo-reset
demo-reset: setup
	$(PY) -m local.demo --reset

# Benchmarks (not timed tests): prints a table and writes bench/results.json.
bench: setup
	$(PY) -m bench

bench-quick: setup
	$(PY) -m bench --quick

# The reliability harness in its long mode (1,000 crash trials per path, 50 clients x 30 s of load).
reliability-long: setup
	RELIABILITY_LONG=1 $(PY) -m pytest tests/reliability

# The API's OpenAPI document, generated from the routes, into the committed openapi.json (a test fails when
# the two differ: run this after changing a route, a model or an error).
.PHONY: openapi
openapi: setup
	$(PY) -m mturk_decisions.api.openapi openapi.json

include infra/Makefile.mk

clean:
	rm -rf $(VENV) cdk.out build node_modules .pytest_cache .hypothesis
