# Relasi: `make run` (local stack with demo data) and `make test` (whole suite) do all set-up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: run test token outbox trigger export-ls package lint bench help

help:
	@echo "make run      local stack (moto + API) with demo data; RELASI_API_PORT, RELASI_AWS_PORT, SEED=none"
	@echo "make test     the whole test suite"
	@echo "make token USER=<demo user>   an ID token for a running local stack"
	@echo "make outbox   SMS, emails and ops alerts a running local stack sent (masked), newest last"
	@echo "make trigger JOB=<name> DATE=YYYY-MM-DD   fire a scheduled job (e.g. daily-reminders) of a running local stack now, as on that date (DATE: today, Asia/Jakarta; JOB=analytics-export exports DATE itself)"
	@echo "make export-ls [DIR=<dir>]   the analytics exports in a running local stack's bucket (key, size, time; rows per dataset and day); DIR: copy them there"
	@echo "make package  deployable CloudFormation (chalice package + infra/template.yaml) in build/package/"
	@echo "make lint     ruff, mypy, and mypy --strict on chalicelib/domain and chalicelib/services"
	@echo "make bench    cold start, DynamoDB requests per operation, reminder job reads, analytics export (100k and 1M interactions; ~13 min in all) -> docs/performance.md; python -m bench --help for options (e.g. --skip-export)"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

run: $(STAMP) $(NODE_STAMP)
	$(PY) -m infra.local_stack

# Node tools (package.json, pinned in package-lock.json): redocly for the contract test, iam-simulate for the
# local stack's IAM (infra/iam_local.py). Without npm both are skipped, and the tests and the stack say so.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "note: no npm here: the redocly lint of /openapi.json is skipped and IAM is not enforced locally"; fi

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest

token: $(STAMP)
	@$(PY) -m infra.token "$(USER)"

outbox: $(STAMP)
	@$(PY) -m infra.outbox

trigger: $(STAMP)
	@$(PY) -m infra.trigger "$(JOB)" "$(DATE)"

export-ls: $(STAMP)
	@$(PY) -m infra.export_ls $(if $(DIR),--download "$(DIR)")

package: $(STAMP)
	$(PY) -m infra.package

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m mypy --strict chalicelib/domain chalicelib/services

bench: $(STAMP)
	$(PY) -m bench
