# rtplan developer commands. Each target bootstraps its own virtual environment.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rtplan-installed

.PHONY: demo test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rtplan demo --output rtplan-demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks sample_data plugins
	$(BIN)/ruff format --check src tests benchmarks sample_data plugins

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) rtplan-demo .pytest_cache .mypy_cache .ruff_cache
