# Two commands on a fresh machine with Python 3.11 and make:  `make demo`  and  `make test`.
# .venv is (re)built only when pyproject.toml changes; system tools are installed only when missing.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.stamp-installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck bench system-tools clean help

help:
	@echo "make demo         set up .venv, fill ./.tracer with demo traffic, serve the dashboard"
	@echo "make test         set up .venv and the system tools, run the whole test suite"
	@echo "make lint         ruff + mypy"
	@echo "make bench        benchmarks/ (overhead vs bare SDK and peers, store ingest and queries)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dashboard,dev]'
	@touch $(STAMP)

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

test: $(STAMP) system-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/tracer demo

lint: $(STAMP)
	$(BIN)/ruff check tracer dashboard tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dashboard,dev,bench]'
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/dashboard.py

clean:
	rm -rf $(VENV) .tracer .pytest_cache .mypy_cache .ruff_cache
