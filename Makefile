# evkit: two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lab lint typecheck unit brokers browser-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(STAMP_RUN)

## demo: analyse the bundled sample (recording a fresh simulated session first when RabbitMQ is up)
demo: $(STAMP_RUN)
	$(PY) -m evkit demo --out build

## test: brokers up, then ruff, mypy and pytest (broker tests fail, never skip)
test: $(STAMP_DEV) brokers browser-deps
	$(VENV)/bin/ruff check evkit tests benchmarks
	$(VENV)/bin/ruff format --check evkit tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest

brokers:
	bash scripts/ensure-brokers.sh

browser-deps:
	bash scripts/ensure-chromium.sh

## lab: set-up if needed, start the simulators when brokers are reachable, open JupyterLab on notebooks/
lab: $(STAMP_DEV)
	-bash scripts/ensure-brokers.sh
	$(PY) -m evkit lab

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
