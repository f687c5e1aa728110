# Two entry points: `make demo` and `make test` (what CI runs). Both set up .venv first (idempotent).
# `make test-fast`: the inner loop, everything but the tests marked `slow` (those that start processes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

$(STAMP): requirements.txt constraints.txt setup.py
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mgselect demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow" tests

bench: $(STAMP)
	$(BIN)/mgselect bench

clean:
	rm -rf $(VENV) build *.egg-info ros2_ws/build ros2_ws/install ros2_ws/log
