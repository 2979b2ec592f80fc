# Every target bootstraps .venv on first use: a fresh clone needs only `make backtest` / `make test`.
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SAMPLE_DIR ?= data/sample
CATALOG ?= data/catalog

.PHONY: venv test test-fast lint backtest sample clean

venv: $(STAMP)

# Re-install when pyproject.toml changes; the stamp keeps repeat runs instant. The research
# extra (Ray, Optuna) is installed too: the sweep and walk-forward tests need it.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (nautilus_trader 1.231 requires Python >= 3.12)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,research]"
	touch $(STAMP)

lint: venv
	$(BIN)/ruff check .

test: venv lint
	$(BIN)/python -m pytest

# Skips the slow end-to-end tests (wheel install into a fresh virtualenv); CI runs them all.
test-fast: venv lint
	$(BIN)/python -m pytest -m "not slow"

# Generates the deterministic sample market in raw wire formats (skipped if present),
# loads it into the catalog like real data, then runs the main job.
sample: venv
	$(BIN)/liqcascade sample --out $(SAMPLE_DIR) --catalog $(CATALOG)

backtest: sample
	$(BIN)/liqcascade summary --catalog $(CATALOG)
	$(BIN)/liqcascade backtest --config configs/backtest_sample.toml run.catalog=$(CATALOG)

clean:
	rm -rf $(VENV) data output .pytest_cache .ruff_cache
