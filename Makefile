# The README's commands. Each sets up .venv on a fresh machine (Python 3.11) when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo scenario test lint types pytest dev bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rtopt demo

scenario: $(STAMP)
	$(BIN)/rtopt scenario

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

test: lint types pytest

dev: $(STAMP)
	$(BIN)/rtopt dev

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf .rtopt
