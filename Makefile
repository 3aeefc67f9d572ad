# The two commands of the README: `make run` (the demo) and `make test`. Both set everything up
# themselves on a fresh machine that has Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ACTOR_SOURCES := $(wildcard actors/*.c actors/include/*.h actors/fixtures/*.wat actors/build.py)
ACTORS_STAMP := actors/build/.built

.PHONY: setup actors run test lint typecheck pytest bench soak clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "wascc-py needs Python 3.11 or newer (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

actors: $(ACTORS_STAMP)

$(ACTORS_STAMP): $(STAMP) $(ACTOR_SOURCES)
	$(PY) actors/build.py
	mkdir -p actors/build
	touch $@

# The demo: sign the sample actors (keys are made on first use and kept in ~/.wascc/keys),
# then run examples/demo.yaml until Ctrl-C. Ports: ECHO_PORT, COUNTER_PORT, LOGGER_PORT.
DEMO_ADMIN ?= 127.0.0.1:8090
run: $(ACTORS_STAMP)
	$(VENV)/bin/wascc claims sign actors/build/echo.wasm --name echo -q
	$(VENV)/bin/wascc claims sign actors/build/kvcounter.wasm --name kvcounter -q -k
	$(VENV)/bin/wascc claims sign actors/build/logger.wasm --name logger -q -l
	$(VENV)/bin/wascc up examples/demo.yaml --expand-env --admin $(DEMO_ADMIN)

lint: $(STAMP)
	$(VENV)/bin/ruff check host providers keys tests bench actors
	$(VENV)/bin/ruff format --check host providers keys tests bench actors

typecheck: $(STAMP)
	$(VENV)/bin/mypy host providers keys

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
