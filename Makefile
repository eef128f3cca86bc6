# Each target does its own set-up (venv, deps); a fresh clone needs only Python and Postgres.
.PHONY: dev test test-fast check lint migrate bench bench-quick install

# The product, its migrations, and the tooling that runs from the checkout (never installed).
CODE = app migrations sandbox devkit bench tests

install:
	@./scripts/bootstrap.sh

dev: install  ## run the whole product locally (sandbox mode without Slack credentials)
	@.venv/bin/python -m devkit dev

test: install  ## run every test against a throwaway Postgres
	@.venv/bin/python -m pytest $(ARGS)

# The pure and fast tiers (docs/decisions.md, "Test tiers"): no spawned processes, no browser,
# no simulators' own suites, no benchmark; one throwaway Postgres. Under a minute.
FAST_TESTS = tests/bridge tests/tenants tests/genesys tests/slack tests/web tests/db \
	tests/test_config.py tests/test_crypto.py tests/test_retry.py tests/test_logs.py \
	tests/test_metrics.py

test-fast: install  ## the pure and fast tiers only (see FAST_TESTS)
	@.venv/bin/python -m pytest $(FAST_TESTS) $(ARGS)

check: install  ## format check, lint, types
	@.venv/bin/ruff format --check $(CODE)
	@.venv/bin/ruff check $(CODE)
	@.venv/bin/mypy $(CODE)
	@.venv/bin/lint-imports --no-cache --no-logo

lint: install  ## fix what the formatter and linter can
	@.venv/bin/ruff format $(CODE)
	@.venv/bin/ruff check --fix $(CODE)

migrate: install
	@.venv/bin/alembic upgrade head

bench: install  ## the full benchmark; writes bench-results/ (see docs/benchmarks.md)
	@.venv/bin/python -m bench

bench-quick: install  ## the CI benchmark: fails on any lost, duplicated or out-of-order message
	@.venv/bin/python -m bench --quick
