# Each target does its own set-up (venv, deps); a fresh clone needs only Python and Postgres.
.PHONY: dev test check lint migrate bench bench-quick install

install:
	@./scripts/bootstrap.sh

dev: install  ## run the whole product locally (sandbox mode without Slack credentials)
	@.venv/bin/python -m app dev

test: install  ## run every test against a throwaway Postgres
	@.venv/bin/python -m pytest $(ARGS)

check: install  ## format check, lint, types
	@.venv/bin/ruff format --check app tests migrations
	@.venv/bin/ruff check app tests migrations
	@.venv/bin/mypy app tests migrations

lint: install  ## fix what the formatter and linter can
	@.venv/bin/ruff format app tests migrations
	@.venv/bin/ruff check --fix app tests migrations

migrate: install
	@.venv/bin/alembic upgrade head

bench: install  ## the full benchmark; writes bench-results/ (see docs/benchmarks.md)
	@.venv/bin/python -m app bench

bench-quick: install  ## the CI benchmark: fails on any lost, duplicated or out-of-order message
	@.venv/bin/python -m app bench --quick
