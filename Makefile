# Two commands on a fresh machine with Python 3.11 and make:  `make demo`  and  `make test`.
# .venv holds exactly requirements/lock.txt (what was last tested); it is re-synced only when the lock or
# pyproject.toml changes. `make lock` re-resolves the lock within pyproject.toml's ranges. System tools are
# installed only when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-installed
LOCK   := requirements/lock.txt
PYTEST_ARGS ?=
# uv installs from the lock (and resolves it); it is bootstrapped with pip into a venv of its own, at this version.
UV_VERSION := 0.13.10
TOOLS  := .cache/tools
UV     := $(TOOLS)/bin/uv
# uv must use the interpreters on this machine: it may not download one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo test test-world lint typecheck bench system-tools lock lanes clean help

help:
	@echo "make demo         set up .venv, fill ./.tracer with demo traffic, serve the dashboard"
	@echo "make test         set up .venv and the system tools, run the whole test suite"
	@echo "make lint         ruff + mypy"
	@echo "make test-world   the slow real-world suites (Prometheus workloads, the fuzzer, a fresh core install, a store stress run)"
	@echo "make lock         re-resolve requirements/lock.txt (newest releases within pyproject.toml's ranges)"
	@echo "make lanes        the newest and oldest releases within our ranges, on Python 3.11 and 3.13 (scripts/lane.py)"
	@echo "make bench        benchmarks/ (overhead vs bare SDK and peers, store ingest and queries)"

$(UV):
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

$(STAMP): pyproject.toml $(LOCK) | $(UV)
	@$(PYTHON) scripts/lock.py check
	@test -x $(BIN)/python || $(UV) venv -q --python $(PYTHON) $(VENV)
	$(UV) pip sync -q --python $(BIN)/python --require-hashes $(LOCK)
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

lock: $(UV)
	$(PYTHON) scripts/lock.py write $(UV)

lanes: $(STAMP)
	$(PYTHON) scripts/lane.py newest --python 3.11 --python 3.13
	$(PYTHON) scripts/lane.py oldest

# Debian packages the tests drive for real: chromium (dashboard in a browser) and prometheus
# (Grafana's PromQL). Installed only when absent and only where apt-get can run as root.
system-tools:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v prometheus >/dev/null 2>&1 || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) >/dev/null \
	      || echo "warning: could not install$$missing; the tests that need them will skip"; \
	  else \
	    echo "note:$$missing not installed (not root); the tests that need them will skip"; \
	  fi; \
	fi

# `make test` keeps under 10 minutes on 2 cores; the slow real-world suites (marker `world`) run in `make test-world`,
# which .ci/run runs right after it. The tests start a few hundred Python processes (applications, dashboards, the
# demo): bytecode is written as they import (an environment with PYTHONDONTWRITEBYTECODE set would have each of
# them compile the same modules from source: tests/demo and tests/faults took 116 s that way and 84 s this way).
NO_SOURCE_COMPILES := PYTHONDONTWRITEBYTECODE=

test: $(STAMP) system-tools
	$(NO_SOURCE_COMPILES) $(BIN)/python -m pytest -m "not world" --durations=15 $(PYTEST_ARGS)

test-world: $(STAMP) system-tools
	$(NO_SOURCE_COMPILES) $(BIN)/python -m pytest -m world $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/tracer demo

lint: $(STAMP)
	$(BIN)/ruff check tracer dashboard tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(UV) pip install -q --python $(BIN)/python -e '.[dashboard,dev,bench]'
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/dashboard.py
	@rm -f $(STAMP)  # the peers were installed beside the lock: the next make test re-syncs .venv to it

clean:
	rm -rf $(VENV) $(TOOLS) .tracer .pytest_cache .mypy_cache .ruff_cache
