# The two commands of the README: `make run` (the demo) and `make test`. Both set everything up
# themselves on a fresh machine that has Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Two installs: what the demo needs (the runtime and the C toolchain, `.[build]`), and what the
# tests and benchmarks need on top (`.[dev]`). A first `make run` skips the second.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
ACTOR_SOURCES := $(wildcard actors/*.c actors/include/*.h actors/fixtures/*.wat actors/build.py)
ACTORS_STAMP := actors/build/.built
DEMO_ACTORS := echo kvcounter logger
DEMO_STAMP := actors/build/.demo-built
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check -c constraints.txt

.PHONY: setup actors run pipeline test lint typecheck pytest bench soak clean

setup: $(STAMP)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wascc-py needs Python 3.11 or newer (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	@echo "creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml constraints.txt | $(VENV)/bin/python
	@echo "installing wascc-py and its dependencies into $(VENV) (first run only)"
	$(PIP_INSTALL) --progress-bar off -e '.[build]'
	touch $@

$(STAMP): $(RUN_STAMP)
	@echo "installing the test and benchmark tools into $(VENV)"
	$(PIP_INSTALL) --progress-bar off -e '.[dev]'
	touch $@

actors: $(ACTORS_STAMP)

$(ACTORS_STAMP): $(STAMP) $(ACTOR_SOURCES)
	$(PY) actors/build.py
	mkdir -p actors/build
	touch $@

# Only the three actors the demo serves (the 2 MB benchmark actor takes a minute to compile).
$(DEMO_STAMP): $(RUN_STAMP) $(ACTOR_SOURCES)
	@echo "building the demo actors: $(DEMO_ACTORS)"
	$(PY) actors/build.py $(DEMO_ACTORS)
	touch $@

# The demo: sign the sample actors (keys are made on first use and kept in ~/.wascc/keys),
# then run examples/demo.yaml until Ctrl-C. Ports: ECHO_PORT, COUNTER_PORT, LOGGER_PORT.
DEMO_ADMIN ?= 127.0.0.1:8090
run: $(DEMO_STAMP)
	$(VENV)/bin/wascc claims sign actors/build/echo.wasm --name echo -q
	$(VENV)/bin/wascc claims sign actors/build/kvcounter.wasm --name kvcounter -q -k
	$(VENV)/bin/wascc claims sign actors/build/logger.wasm --name logger -q -l
	$(VENV)/bin/wascc up examples/demo.yaml --expand-env --admin $(DEMO_ADMIN)

# The data pipeline example (README.md, "A data pipeline"): PUT a file on PIPELINE_PORT (8084).
pipeline: $(RUN_STAMP)
	PY=$(PY) sh examples/pipeline.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check wascc/__init__.py host providers keys tests bench actors
	$(VENV)/bin/ruff format --check wascc/__init__.py host providers keys tests bench actors

typecheck: $(STAMP)
	$(VENV)/bin/mypy -p wascc.host -p wascc.providers -p wascc.keys

pytest: $(ACTORS_STAMP)
	$(VENV)/bin/pytest

test: lint typecheck pytest

bench: $(ACTORS_STAMP)
	$(PY) -m bench.run

# `wascc up` with the demo under steady load for SOAK_SECONDS, watched for growing memory,
# descriptors and threads (bench/soak.py); exit status 1 on growth or a failed request.
SOAK_SECONDS ?= 60
soak: $(ACTORS_STAMP)
	$(PY) -m bench.soak $(SOAK_SECONDS)

clean:
	rm -rf actors/build .mypy_cache .ruff_cache .pytest_cache
