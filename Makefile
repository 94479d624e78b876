# The two commands of the README:   make book   (main job)   and   make test   (tests; .ci/run calls it).
# make test-fast: the unit tests without the notebook runs, the rehearsal and the slow end-to-end tests.
# make rehearsal: the full profile's Colab path on a SASE-FE-shaped stand-in (make test runs it too).
# make test-colab: the unit tests and the rehearsal on Colab's package versions (.venv-colab; .ci/run runs it).
# make test-minimum: the unit tests on the lowest versions pyproject.toml admits (.venv-minimum).
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

# Colab's preinstalled versions, and the venv that holds them with the helpers installed as Colab installs them.
COLAB_CONSTRAINTS := constraints/colab-2026-08.txt
COLAB_VENV ?= .venv-colab
COLAB_BIN := $(COLAB_VENV)/bin
COLAB_STAMP := $(COLAB_VENV)/.installed
# requirements.txt's pins of what the notebooks' setup cells add on Colab, and of the test tools
MINIMUM_VENV ?= .venv-minimum
MINIMUM_BIN := $(MINIMUM_VENV)/bin
pins = $(shell grep -E '^($(subst $() ,|,$(1)))==' requirements.txt requirements-nodeps.txt | cut -d: -f2)

.PHONY: help env browser data notebooks book test test-fast test-colab test-minimum rehearsal clean

help:
	@echo "make book   create .venv, generate the synthetic dataset, run every notebook ($(PROFILE) profile), build the book"
	@echo "make test   create .venv and run the test suite (what CI runs)"
	@echo "make test-fast  the unit tests only: no notebook runs, no rehearsal, no slow end-to-end tests"
	@echo "make test-colab  the unit tests and the rehearsal on Colab's package versions ($(COLAB_CONSTRAINTS))"
	@echo "make test-minimum  the unit tests on the lowest versions pyproject.toml admits (constraints/minimum.txt)"
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

# Colab's packages first; then, as the setup cells do, the helpers and what they add, keeping every one of
# Colab's versions (a constraint) but its OpenCV 5 headless wheel, which `opencv-python-headless<5` replaces.
$(COLAB_STAMP): $(COLAB_CONSTRAINTS) requirements.txt requirements-nodeps.txt pyproject.toml
	rm -rf $(COLAB_VENV)
	$(PYTHON) -m venv $(COLAB_VENV)
	grep -v '^opencv-python-headless==' $(COLAB_CONSTRAINTS) > $(COLAB_VENV)/kept.txt
	$(COLAB_BIN)/pip install -q -r $(COLAB_CONSTRAINTS) 2>&1 | $(QUIET_PIP)
	$(COLAB_BIN)/pip install -q -c $(COLAB_VENV)/kept.txt -e . \
		$(call pins,pytorchvideo face_recognition_models pytest papermill nbclient jupyter-book) 2>&1 | $(QUIET_PIP)
	$(COLAB_BIN)/pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | $(QUIET_PIP)
	touch $(COLAB_STAMP)

test-colab: $(COLAB_STAMP)
	$(COLAB_BIN)/python -m pytest -m "not notebook and not slow"
	$(COLAB_BIN)/python -m pytest tests/test_rehearsal.py  # make rehearsal, with the checks make test makes

$(MINIMUM_VENV)/.installed: constraints/minimum.txt requirements.txt requirements-nodeps.txt pyproject.toml
	rm -rf $(MINIMUM_VENV)
	$(PYTHON) -m venv $(MINIMUM_VENV)
	$(MINIMUM_BIN)/pip install -q -r constraints/minimum.txt 2>&1 | $(QUIET_PIP)
	$(MINIMUM_BIN)/pip install -q -c constraints/minimum.txt -e ".[video,book,landmarks]" $(call pins,pytest) 2>&1 | $(QUIET_PIP)
	$(MINIMUM_BIN)/pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | $(QUIET_PIP)
	touch $@

test-minimum: $(MINIMUM_VENV)/.installed
	$(MINIMUM_BIN)/python -m pytest -m "not notebook and not slow"

rehearsal: env
	$(BIN)/python tools/rehearsal/run.py

clean:
	rm -rf _build
