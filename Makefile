PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test demo install lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps -r tests/requirements-torch-libraries.txt

test: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest -q -n auto

demo: install
	$(BIN)/python -m dlpy.demo

lint: install
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
