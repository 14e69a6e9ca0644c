# healthdeck: `make demo` runs the product on a simulated SaaS, `make test` runs the tests.
VENV ?= .venv
PY := $(VENV)/bin/python
HD := $(VENV)/bin/healthdeck
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test check lint bench screenshots clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,engines]'
	touch $(STAMP)

install: $(STAMP)

demo: install  ## simulate a 30-day SaaS up to now (if the store is empty), then serve it live: Ctrl-C stops it
	$(HD) serve --demo

test: install  ## the whole test suite, on both cores
	$(PY) -m pytest -n 2 -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

check: lint test  ## linters, type checks and tests

bench: install  ## performance benchmarks (figures and ratios against an in-run baseline)
	$(PY) benchmarks/bench_simulate.py
	$(PY) benchmarks/bench_health.py
	$(PY) benchmarks/bench_startup.py
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_id_lookup.py
	$(PY) benchmarks/bench_jsonl_parse.py
	$(PY) benchmarks/bench_rollups.py
	$(PY) benchmarks/bench_coverage.py
	$(PY) benchmarks/bench_serve_ingest.py
	$(PY) benchmarks/bench_serve_dashboard.py
	$(PY) benchmarks/bench_web_first_render.py
	$(if $(BIG_STORE),$(PY) benchmarks/bench_scale.py --db $(BIG_STORE),@echo "bench_scale.py skipped: make bench BIG_STORE=PATH (a 100 M-request store; bench_scale.py --build makes one)")

screenshots: install  ## the browser tests, keeping each page's screenshots (1440 px and 375 px) in docs/screenshots/
	HEALTHDECK_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/web -q

clean:
	rm -rf $(VENV) .healthdeck .pytest_cache .mypy_cache .ruff_cache
