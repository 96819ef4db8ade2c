# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck bench warmup notebooks sample calibration clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dpv demo --out demo-output

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check valuation models calibration tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m 'not slow'

warmup: $(STAMP)
	$(BIN)/dpv warmup

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_valuation.py
	$(BIN)/python benchmarks/bench_stress.py
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_pledge.py
	$(BIN)/python benchmarks/bench_calibrate.py
	$(BIN)/python benchmarks/bench_price.py

# Regenerate the bundled synthetic sample (a test checks that this reproduces it byte for byte).
sample: $(STAMP)
	$(BIN)/dpv synth --products 2000 --seed 20241201 --format csv --out valuation/data/sample --force

# Refit the bundled default CalibrationSet on the bundled sample (fixed creation time, so the
# same code and sample give the same bytes); `dpv value` and `dpv stress` use it by default.
calibration: $(STAMP)
	$(BIN)/dpv calibrate --history valuation/data/sample --out valuation/data/calibration/default \
		--listings tests/data/exchange-listings --created-at 2026-11-22T00:00:00Z --force

# Re-execute every notebook in place, so that the committed outputs are current.
notebooks: $(STAMP)
	$(BIN)/python -c "import sys, nbformat, nbclient; [nbformat.write(nbclient.NotebookClient(nb := nbformat.read(p, as_version=4), timeout=600, kernel_name='python3').execute() or nb, p) for p in sys.argv[1:]]" notebooks/*.ipynb

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
