# hpstudy: `make demo` sets up .venv and reproduces the report; `make test` runs all checks.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# USPS is read from this directory (see README, "Data").
export HPSTUDY_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/hpstudy reproduce

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench examples
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: $(VENV)/.installed
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) studies build *.egg-info
