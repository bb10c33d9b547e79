# Make targets for the order-flow app. The names and behaviour are a contract
# (ARCHITECTURE.md §3): `make demo`, `make test` (called by .ci/run), `make run`.
#
# Every target uses the virtualenv in $(VENV) through explicit paths; nothing needs activating.
# Each recipe runs as one bash script (.ONESHELL) with -e -u -o pipefail: the first failing
# command fails the target.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 8000
FLOWER_PORT ?= 5555

# The PostgreSQL tier of `make test` (trust auth on the loopback, database `test`).
PG_HOST     ?= 127.0.0.1
PG_PORT     ?= 5432
PG_TEST_URL ?= postgres://postgres@$(PG_HOST):$(PG_PORT)/test

# Extra arguments for every pytest run, e.g. `make test PYTEST_ARGS="-k outbox -x"`.
PYTEST_ARGS ?=
# Extra arguments for `make bench`, e.g. `make bench BENCH_ARGS="--brokers amqp --only producer"`.
BENCH_ARGS ?=

# The SQLite test database lives in var/, apart from the development database (var/shop.sqlite3).
export SHOP_TEST_SQLITE ?= $(CURDIR)/var/test.sqlite3
# The PostgreSQL test database (created and dropped by pytest-django).
export SHOP_TEST_DB_NAME ?= test_shop_flows

.PHONY: help install lint test test-faults pytest demo run flower bench migrate clean

# help: list the targets.
help:
	@cat <<'EOF'
	make install   create $(VENV) and install the project with its dev extras
	make lint      ruff check, ruff format --check, mypy
	make test      install, lint, then the SQLite and PostgreSQL tiers (no fault tier)
	make test-faults  the fault tier on PostgreSQL (brokers stopped, workers killed)
	make pytest    only the SQLite and PostgreSQL tiers, without lint
	make demo      migrate SQLite, seed the catalog and run the walkthrough (no servers needed)
	make run       web server on 127.0.0.1:$(PORT) plus the workers (Procfile, via honcho)
	make flower    Flower on 127.0.0.1:$(FLOWER_PORT) for the configured broker (needs FLOWER_BASIC_AUTH)
	make bench     the benchmarks on Redis and RabbitMQ with real workers: BENCHMARKS.md and plots
	make migrate   apply migrations to the configured database
	make clean     remove the SQLite files in var/ and the tool caches (keeps $(VENV))
	EOF

# The virtualenv itself.
$(PY):
	@python3 -m venv $(VENV)

# (Re)install only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml | $(PY)
	@echo "==> pip install -e '.[dev,bench]'"
	$(PY) -m pip install --disable-pip-version-check --quiet -e '.[dev,bench]'
	touch $(STAMP)

# install: the virtualenv plus the project and its dev and bench extras.
install: $(STAMP)

# lint: run all three checkers, then fail if any of them failed.
lint: install
	@status=0
	echo "==> ruff check ."
	$(VENV)/bin/ruff check . || status=1
	echo "==> ruff format --check ."
	$(VENV)/bin/ruff format --check . || status=1
	echo "==> mypy ."
	$(VENV)/bin/mypy . || status=1
	if [ "$$status" -ne 0 ]; then echo "FAILED: lint (see above)" >&2; fi
	exit "$$status"

# test: the contract target; lint first, then the pytest tiers (no fault tier: `make test-faults`).
test: lint
	@$(MAKE) --no-print-directory pytest

# The tiers, each one pytest run (the markers are described in pyproject.toml):
# - SQLite: everything but the real brokers and the fault tier: unit tests, the browser tests,
#   the comparison suite on the embedded memory:// broker. SQLite is the embedded default.
# - PostgreSQL: the real brokers' tests (worker processes per service on Redis and RabbitMQ; the
#   deployment with several processes is a PostgreSQL one), and the tests that depend on the
#   database engine (marker db_engine: constraints, locks, triggers, JSON, raw SQL).
# - faults (`make test-faults`): brokers stopped, workers killed; PostgreSQL only.
SQLITE_TIER  := not faults and not real_brokers
POSTGRES_TIER := not faults and (real_brokers or db_engine)
FAULTS_TIER  := faults

# Each tier prints its 15 slowest tests, and its line (name, wall time, result) is appended to
# var/test-tiers.tsv, which .ci/run prints at the end. pytest exits 5 when it collects no tests:
# a warning locally, a failure under CI=true.
define TIER_FUNCTIONS
ci() { [ "$$(printf %s "$${CI:-}" | tr '[:upper:]' '[:lower:]')" = true ]; }
pg_reachable() { $(PY) -c "import psycopg; psycopg.connect('$(PG_TEST_URL)', connect_timeout=3).close()" 2>/dev/null; }
tier() {  # tier NAME COMMAND...: run one tier, record and return its result
  local name=$$1 rc=0 started=$$(date +%s) log; shift
  log=$$(mktemp)
  echo "==> pytest, $$name tier"
  "$$@" --durations=15 2>&1 | tee "$$log" || rc=$${PIPESTATUS[0]}
  local seconds=$$(( $$(date +%s) - started ))
  local result=$$(grep -E '^=* ?(no tests ran|[0-9]+ (passed|failed|skipped|deselected|errors?))' "$$log" | tail -n 1 | tr -d '=' | sed 's/^ *//; s/ *$$//')
  rm -f "$$log"
  if [ "$$rc" -eq 5 ]; then
    if ci; then echo "FAILED: $$name tier collected no tests (CI=true: that is a failure)" >&2; rc=1
    else echo "WARNING: $$name tier collected no tests"; rc=0; fi
  fi
  local status=passed; [ "$$rc" -eq 0 ] || status=FAILED
  printf '%s\t%s\t%dm%02ds\t%s\n' "$$name" "$$status" $$((seconds / 60)) $$((seconds % 60)) "$$result" >> var/test-tiers.tsv
  summary+=("$$name: $$status in $$((seconds / 60))m$$(printf %02d $$((seconds % 60)))s ($$result)")
  return "$$rc"
}
endef
export TIER_FUNCTIONS

# pytest: the SQLite tier and, when PostgreSQL is reachable, the PostgreSQL tier, both at once.
# Each tier is one pytest process that waits on its workers, servers and brokers more than it
# computes (a third to a half of its wall time is CPU), so on two CPUs the two tiers together take
# little more than the longer one (docs/testing.md, "Times"). They share nothing but the machine:
# SQLite files of their own against the test database on PostgreSQL, memory:// against the real
# brokers. The PostgreSQL tier prints as it goes; the SQLite tier's output is kept in
# var/test-sqlite.log and printed whole when it ends. The Redis and RabbitMQ tests skip
# themselves (or fail under CI=true) inside the suite.
pytest: install
	@mkdir -p var
	eval "$$TIER_FUNCTIONS"
	summary=() failed=0
	sqlite_tier() { tier SQLite env -u DATABASE_URL $(PY) -m pytest -m "$(SQLITE_TIER)" $(PYTEST_ARGS); }
	if pg_reachable; then
	  echo "==> the SQLite tier runs alongside, its output in var/test-sqlite.log (printed when it ends)"
	  rm -f var/test-sqlite.summary
	  ( rc=0; sqlite_tier || rc=$$?; printf '%s\n' "$${summary[@]}" > var/test-sqlite.summary; exit "$$rc" ) \
	    > var/test-sqlite.log 2>&1 &
	  sqlite_pid=$$!
	  tier PostgreSQL env DATABASE_URL='$(PG_TEST_URL)' $(PY) -m pytest -m "$(POSTGRES_TIER)" $(PYTEST_ARGS) || failed=1
	  wait "$$sqlite_pid" || failed=1
	  cat var/test-sqlite.log
	  sqlite_summary=("SQLite: FAILED (it ended without a summary)")
	  [ -s var/test-sqlite.summary ] && mapfile -t sqlite_summary < var/test-sqlite.summary
	  summary=("$${sqlite_summary[@]}" "$${summary[@]}")
	else
	  sqlite_tier || failed=1
	  if ci; then
	    echo "FAILED: PostgreSQL tier (PostgreSQL not reachable at $(PG_HOST):$(PG_PORT); CI=true: a missing service is a failure)" >&2
	    summary+=("PostgreSQL: FAILED (not reachable)"); failed=1
	  else
	    echo "SKIPPED: PostgreSQL tier (PostgreSQL not reachable at $(PG_HOST):$(PG_PORT))"
	    summary+=("PostgreSQL: SKIPPED (not reachable)")
	  fi
	fi
	echo "==> pytest tiers:"; printf '    %s\n' "$${summary[@]}"
	exit "$$failed"

# test-faults: the fault tier (pytest -m faults): real worker processes, the relay and the web
# process while brokers are stopped and restarted, workers killed, and the database's connections
# cut, restarted and exhausted. It runs on a PostgreSQL cluster of its own (created for the run on
# a free port with pg_createcluster, dropped afterwards: tests/faults/postgres.py), never the
# shared one, since it stops its database.
test-faults: install
	@mkdir -p var
	eval "$$TIER_FUNCTIONS"
	summary=() failed=0
	tier faults env DATABASE_URL='$(PG_TEST_URL)' SHOP_TEST_PRIVATE_POSTGRES=1 $(PY) -m pytest -m "$(FAULTS_TIER)" $(PYTEST_ARGS) || failed=1
	echo "==> pytest tiers:"; printf '    %s\n' "$${summary[@]}"
	exit "$$failed"

# demo: the serverless tour on SQLite and the in-process memory:// broker.
# Only the demo may invent a secret key, and only when none is exported.
demo: install
	@mkdir -p var
	unset DATABASE_URL CELERY_BROKER_URL  # the demo always runs embedded: SQLite in var/, memory://
	if [ -z "$${DJANGO_SECRET_KEY:-}" ]; then
	  DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')"
	  export DJANGO_SECRET_KEY
	  echo "==> demo: generated a throwaway DJANGO_SECRET_KEY for this run"
	fi
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_catalog
	$(PY) manage.py walkthrough

# bench: every measurement in bench/ (docs/benchmarks.md), as ratios against baselines measured
# in the same run. Needs PostgreSQL, Redis and RabbitMQ up; do not run it while a test suite runs
# (the fault tier takes the broker lock one run at a time, so the two would interleave).
# Writes bench/results/latest.json, BENCHMARKS.md and the plots.
# `python -m bench --quick --json FILE` is the reduced version (under a minute).
bench: install
	@$(PY) -m bench $(BENCH_ARGS)

# run: the real thing, web + one worker per service + the relay (Procfile), against the exported
# CELERY_BROKER_URL and DATABASE_URL; with no broker (memory://), the Procfile's web process
# alone, which then runs every service and the relay inside it. It never invents a secret key.
run: install
	@if [ -z "$${DJANGO_SECRET_KEY:-}" ]; then
	  echo "make run: DJANGO_SECRET_KEY is not set. Export one first, for example:" >&2
	  echo "  export DJANGO_SECRET_KEY=\"\$$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\"" >&2
	  exit 1
	fi
	mkdir -p var
	export PATH="$(abspath $(VENV))/bin:$$PATH" PORT="$(PORT)"  # Procfile lines call python and celery
	export DJANGO_HTTPS="$${DJANGO_HTTPS:-0}"  # gunicorn on 127.0.0.1 speaks plain http
	python manage.py migrate --noinput
	python manage.py seed_catalog
	python manage.py collectstatic --noinput  # into var/static, which whitenoise serves (DEBUG off)
	case "$${CELERY_BROKER_URL:-memory://}" in
	  memory://*)
	    # memory:// queues live inside one process: the web process runs every service and the
	    # relay itself (shop/wsgi.py), and the Procfile's workers would each get a broker of their own.
	    echo "==> make run: embedded broker (memory://): one process, the web server with every service and the relay inside it"
	    export WEB_WORKERS=1
	    exec honcho start -f Procfile web ;;
	esac
	exec honcho start -f Procfile

# flower: Celery's monitor for the exported CELERY_BROKER_URL, behind HTTP basic auth taken from
# FLOWER_BASIC_AUTH (user:password[,user2:password2]); it refuses to start without it. Flower reads
# every FLOWER_* variable as its option, so its API answers with those credentials too.
flower: install
	@if [ -z "$${FLOWER_BASIC_AUTH:-}" ]; then
	  echo "make flower: FLOWER_BASIC_AUTH is not set. Export user:password first, for example:" >&2
	  echo "  export FLOWER_BASIC_AUTH=\"admin:\$$(python3 -c 'import secrets; print(secrets.token_urlsafe(16))')\"" >&2
	  exit 1
	fi
	case "$${CELERY_BROKER_URL:-memory://}" in
	  memory://*) echo "make flower: CELERY_BROKER_URL is memory://: Flower needs a real broker (Redis or RabbitMQ)" >&2; exit 1 ;;
	esac
	export PATH="$(abspath $(VENV))/bin:$$PATH"
	exec celery -A shop flower --address=127.0.0.1 --port=$(FLOWER_PORT)

# migrate: apply migrations to the configured database (needs DJANGO_SECRET_KEY).
migrate: install
	@mkdir -p var
	$(PY) manage.py migrate --noinput

# clean: SQLite files and caches; the virtualenv stays.
clean:
	@rm -f var/*.sqlite3 var/*.sqlite3-*
	rm -rf .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
