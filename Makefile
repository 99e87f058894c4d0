# abusedesk: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
RUN := $(UV) run --frozen
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this list of targets
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z_-]+:.*?## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: install
install: ## Create the virtual environment from the lock file
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@# Every abusedesk process (the CLI tests start hundreds) then reads compiled modules
	@# instead of compiling them again where the environment forbids writing bytecode.
	$(UV) run --frozen python -m compileall -q src

.PHONY: run
run: install ## Set up the SQLite database, seed the demo provider once, start abusedesk
	$(RUN) abusedesk init
	$(RUN) abusedesk demo seed --if-empty
	$(RUN) abusedesk ingest var/demo/reports --no-process --channel demo
	$(RUN) abusedesk serve

.PHONY: test
test: install ## Run the whole test suite (PostgreSQL too when ABUSEDESK_TEST_DATABASE_URL is set)
	$(RUN) pytest $(PYTEST_ARGS)

.PHONY: coverage
coverage: install ## Run the tests with branch coverage and list what they miss
	$(RUN) pytest --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

.PHONY: lint
lint: install ## Check style, formatting and the import contracts
	$(RUN) ruff check src tests bench
	$(RUN) ruff format --check src tests bench
	$(RUN) lint-imports

.PHONY: fmt
fmt: install ## Format the code and apply safe fixes
	$(RUN) ruff format src tests bench
	$(RUN) ruff check --fix src tests bench

.PHONY: typecheck
typecheck: install ## Type-check src/ with mypy in strict mode
	$(RUN) mypy

.PHONY: golden
golden: install ## Rewrite the parsers' golden files from the current output (review the diff)
	ABUSEDESK_UPDATE_GOLDEN=1 $(RUN) pytest tests/unit/test_golden.py -p no:randomly -q

.PHONY: bench
bench: install ## Run the benchmarks and print their figures beside the goals
	$(RUN) python bench/parse.py
	$(RUN) python bench/ingest.py
	$(RUN) python bench/attribution.py --seed 5 --scale-accounts 10000 --intervals 100000 --send-log 1000000
	$(RUN) python bench/audit.py --rows 200000
	$(RUN) python bench/monitoring.py
	$(RUN) python bench/spikes.py --seed 5
	$(RUN) python bench/linking.py --seed 5
	$(RUN) python bench/anomalies.py --seed 5
	$(RUN) python bench/privacy.py
	$(RUN) python bench/reports.py

.PHONY: corpus
corpus: install ## Measure the parsers on ../shared/corpus (or CORPUS=dir) beside the thresholds
	$(RUN) python bench/corpus.py $(if $(CORPUS),--corpus $(CORPUS))

.PHONY: clean
clean: ## Remove the virtual environment and local data under ./var
	rm -rf .venv var
