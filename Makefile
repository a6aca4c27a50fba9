# rtplan developer commands. Each target bootstraps its own virtual environment.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rtplan-installed
# tools/ (generators that are not runtime code) is linted once it exists
LINT   := src tests benchmarks sample_data plugins docs/conf.py $(wildcard tools)

.PHONY: demo test lint typecheck docs pytest wheel-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml plugins/rtplan-geant4/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	# the Monte Carlo engine plugin (Geant4 through geant4_pybind), tested with the rest
	$(BIN)/python -m pip install --quiet -e ./plugins/rtplan-geant4
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rtplan demo --output rtplan-demo

lint: $(STAMP)
	$(BIN)/ruff check $(LINT)
	$(BIN)/ruff format --check $(LINT)

typecheck: $(STAMP)
	$(BIN)/mypy

# the Sphinx site from the numpydoc docstrings; a warning fails the build
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

pytest: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q --durations=25

test: lint typecheck docs pytest

# build the wheel, install it into a fresh virtual environment outside the source tree and
# run the demo there on the sample studies that ship inside the wheel
wheel-check: $(STAMP)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp" || true' EXIT; \
	rm -rf build; \
	$(BIN)/python -m build --wheel --outdir "$$tmp/dist" . >"$$tmp/build.log" || { cat "$$tmp/build.log"; exit 1; }; \
	rm -rf build; \
	ls -l "$$tmp"/dist/*.whl; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet "$$tmp"/dist/*.whl; \
	cd "$$tmp"; \
	env -u RTPLAN_SAMPLE_DATA "$$tmp/venv/bin/python" -c "import sys, rtplan; p = rtplan.data.get_path('thigh_sarcoma'); assert str(p).startswith(sys.prefix), p; print('sample data:', p)"; \
	env -u RTPLAN_SAMPLE_DATA "$$tmp/venv/bin/rtplan" demo -o "$$tmp/demo"; \
	test -f "$$tmp/demo/thigh_sarcoma/RD.dcm"; \
	"$$tmp/venv/bin/python" -c "import time, rtplan._warmup as w; [time.sleep(2) for _ in range(300) if w.running()]; assert w.marker_path().exists(), 'the background kernel warm-up did not finish'"; \
	echo "wheel-check: the installed wheel runs rtplan demo; its background warm-up finished"

clean:
	rm -rf $(VENV) rtplan-demo .pytest_cache .mypy_cache .ruff_cache build dist docs/_build
