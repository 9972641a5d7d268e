# Two commands do everything: `make demo` and `make test` (see README.md).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: install demo test lint typecheck unit bench clean browser pdf-libs

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Browser tests drive Debian's Chromium (no browser download by a test tool).
browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

# WeasyPrint lays out the PDFs with Pango (and needs a font); Debian's packages give both.
pdf-libs:
	@ldconfig -p | grep -q libpangoft2-1.0 && fc-list | grep -q . || { \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install \
		-y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core; }

demo: install pdf-libs
	$(BIN)/herregistratie demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install browser pdf-libs
	timeout --kill-after=60 45m $(BIN)/pytest -q --durations=12

test: lint typecheck unit

bench: install
	$(BIN)/python bench/transitions.py

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
