# Clarion: `make demo` and `make test` set everything up on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install demo test lint fmt typecheck pytest bench bench-smoke clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/clarion demo

test: install lint typecheck pytest bench-smoke

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

fmt: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every benchmark at a tiny size, so none of them rots.
bench-smoke: install
	@set -e; for f in bench/bench_*.py; do \
		[ -e "$$f" ] || continue; echo "== $$f --tiny"; $(BIN)/python "$$f" --tiny; done

# Every benchmark at full size; figures go to bench/README.md by hand, with machine and date.
bench: install
	@set -e; for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python "$$f"; done

clean:
	rm -rf $(VENV) clarion-data .pytest_cache .mypy_cache .ruff_cache
