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

.PHONY: setup test demo walkthrough bench bench-quick reliability-long clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml infra/assets/powertools-layer/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $@

test: setup node_modules/.installed
	$(PY) -m pytest

demo: setup
	$(PY) -m local.demo

# Against a running `make demo`, from another terminal.
walkthrough: setup
	$(PY) -m local.walkthrough

# Benchmarks (not timed tests): prints a table and writes bench/results.json.
bench: setup
	$(PY) -m bench

bench-quick: setup
	$(PY) -m bench --quick

# The reliability harness in its long mode (1,000 crash trials per path, 50 clients x 30 s of load).
reliability-long: setup
	RELIABILITY_LONG=1 $(PY) -m pytest tests/reliability

include infra/Makefile.mk

clean:
	rm -rf $(VENV) cdk.out build node_modules .pytest_cache .hypothesis
