# The two commands of the README:   make book   (main job)   and   make test   (tests; .ci/run calls it).
# make test-fast: the unit tests without the notebook runs, the rehearsal and the slow end-to-end tests.
# make rehearsal: the full profile's Colab path on a SASE-FE-shaped stand-in (make test runs it too).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= smoke
# pip on this kind of machine prints one warning per package about empty local indexes: hide only those.
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help env browser data notebooks book test test-fast rehearsal clean

help:
	@echo "make book   create .venv, generate the synthetic dataset, run every notebook ($(PROFILE) profile), build the book"
	@echo "make test   create .venv and run the test suite (what CI runs)"
	@echo "make test-fast  the unit tests only: no notebook runs, no rehearsal, no slow end-to-end tests"
	@echo "make rehearsal  run all six notebooks in the full profile on a SASE-FE-shaped stand-in (before GPU hours)"
	@echo "make browser    install Debian's chromium when missing (the test that opens the book's pages in it)"

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install -q --no-deps -e . 2>&1 | $(QUIET_PIP)
	touch $(STAMP)

env: $(STAMP)

# Headless Chromium for tests/test_notebooks.py's browser check of the built book (tools/check_book.py drives it
# over its DevTools pipe: no driver, nothing from PyPI). Installed once, as root (CI) or with sudo.
# Any of Debian's chromium, Ubuntu's chromium-browser or Google Chrome (GitHub's runners have it) will do.
browser:
	@test -x "$${CHROMIUM:-/usr/bin/chromium}" || test -x /usr/bin/chromium-browser || test -x /usr/bin/google-chrome || \
	{ SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

data: env
	$(BIN)/python -m helpers.synthetic --profile $(PROFILE)

notebooks: data
	$(BIN)/python -m helpers.book execute --profile $(PROFILE)

book: notebooks
	$(BIN)/python -m helpers.book build --profile $(PROFILE)

test: env browser
	$(BIN)/python -m pytest

test-fast: env browser
	$(BIN)/python -m pytest -m "not notebook and not slow"

rehearsal: env
	$(BIN)/python tools/rehearsal/run.py

clean:
	rm -rf _build
