# Two commands do all setup on a fresh machine (Python 3.11, pip, make):
#   make run    - set up, then run the example pipelines end to end on the embedded defaults
#   make test   - set up, then run the whole test suite (lint, types, architecture, tests;
#                 tests/unit/test_doctests.py runs the examples in the package's docstrings)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup bytecode run test lint bench clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Bytecode of the editable sources, as a wheel install has it: Python would write it on first
# import, but not under PYTHONDONTWRITEBYTECODE, and compiling Conveyor's modules from source
# on every command costs a cold `conveyor run` ~15% of its CPU time. Only changed files compile.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q src

setup: $(STAMP) bytecode

run: $(STAMP) bytecode
	cd examples/quickstart && ../../$(BIN)/conveyor run pipeline.py
	cd examples/penguins && ../../$(BIN)/conveyor run pipeline.py
	cd examples/iterative && ../../$(BIN)/conveyor run pipeline.py
	cd examples/census && mkdir -p data && ../../$(BIN)/python ../../bench/make_tabular.py --rows 20000 \
		--out data/census.csv && ../../$(BIN)/conveyor run pipeline.py
	# the census champion answers requests: deployed in the background, smoke-tested, stopped
	cd examples/census && ../../$(BIN)/conveyor deploy models:/census@champion --name census-demo \
		--port 0 --json > .conveyor/deployed.json && \
		../../$(BIN)/conveyor smoke-test "$$(../../$(BIN)/python -c \
		'import json; print(json.load(open(".conveyor/deployed.json"))["url"])')"; \
		status=$$?; ../../$(BIN)/conveyor deploy stop census-demo; exit $$status
	cd examples/serving_skew && ../../$(BIN)/python skew_loop.py --port 0

lint: $(STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n 2 tests

# the UI's browser tests save their screenshots in build/screenshots; docs/ui.md shows some
screenshots: $(STAMP) bytecode
	$(BIN)/pytest -q -n 2 -m slow tests/ui
	for f in docs/images/ui/*.png; do cp "build/screenshots/$$(basename "$$f")" "$$f"; done

bench: $(STAMP) bytecode
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .conveyor examples/*/.conveyor examples/census/data examples/census/serving \
		examples/serving_skew/data examples/serving_skew/logs examples/serving_skew/models \
		examples/serving_skew/schema.yaml examples/serving_skew/skew_report.json
