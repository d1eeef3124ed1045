# villagelaw — `make run` serves the app, `make test` runs the whole suite (what CI calls).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test bench lint train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/villagelaw db upgrade
	$(BIN)/villagelaw seed-demo --if-empty
	$(BIN)/villagelaw serve

test: $(DEV_STAMP)
	$(BIN)/python -m pytest

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	POSTGRES_PASSWORD=x SECRET_KEY=x ADMIN_PASSWORD=x $(BIN)/python -c "import compose, os, subprocess, sys; sys.exit(subprocess.call([os.path.join(os.path.dirname(compose.__file__), 'docker-compose'), 'config', '-q']))"

train: $(RUN_STAMP)
	$(BIN)/python -m nlu train

clean:
	rm -rf $(VENV) var build .pytest_cache .mypy_cache .ruff_cache
