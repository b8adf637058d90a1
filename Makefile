PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: test prepare pytest demo install lint clean

PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# uv installs the same packages as pip, about 4x faster (compiling their .pyc files as pip does:
# with PYTHONDONTWRITEBYTECODE set, every test process would otherwise compile its imports);
# where uv cannot be installed or fails, pip does the install
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python --compile-bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	-$(PIP) uv

install: $(BIN)/python
	@if [ -x $(BIN)/uv ] && $(UV) -e '.[dev]' \
	        && $(UV) --no-deps -r tests/requirements-torch-libraries.txt; then :; else \
	    echo "installing with pip"; \
	    $(PIP) -e '.[dev]' \
	        && $(PIP) --no-deps -r tests/requirements-torch-libraries.txt; fi

# tests/precompile.py: dlpy's .pyc files, pytest's rewritten test modules and the semantics
# cases' code, compiled once on every core instead of in each pytest worker and each process
# a test starts
prepare: install
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python tests/precompile.py

# one pytest-xdist worker a core, each with one BLAS thread (unless OMP_NUM_THREADS says
# otherwise): OpenBLAS's own threads, a core each, left every core running two workers' BLAS
# threads, spinning while they wait (the suite took 357 s instead of 295 on 2 cores)
PYTEST := OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(BIN)/python -m pytest -q -n auto --dist worksteal

# the tests alone, on a prepared checkout (.ci/run: `make prepare` while Debian's packages
# install, then this)
pytest:
	$(PYTEST)

test: prepare
	$(PYTEST)

demo: install
	$(BIN)/python -m dlpy.demo

lint: install
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
