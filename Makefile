# Relasi: `make run` (local stack with demo data) and `make test` (whole suite) do all set-up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: run reset test chromium token outbox trigger sms-reply time-scale export-ls package lint bench help

# `make token AS=<user>` (USER= on the command line works too; the shell's own $USER, the login name, does not;
# make's built-in AS, the assembler, does not either)
TOKEN_USER := $(or $(if $(filter default,$(origin AS)),,$(AS)),$(if $(filter command line,$(origin USER)),$(USER)))

help:
	@echo "Set-up is automatic: the first target you run installs Python packages into .venv (about 2 minutes)."
	@echo "Every target that takes options passes ARGS=\"...\" on, e.g. make outbox ARGS=\"--channel sms\"."
	@echo ""
	@echo "make run      local stack (moto + API) with demo data, ready in about 1 minute; RELASI_API_PORT (8000),"
	@echo "              RELASI_AWS_PORT (4566), SEED=none; a second terminal needs the same RELASI_*_PORT values"
	@echo "              Data, users and the outbox survive a restart: saved in build/local-state when the stack stops"
	@echo "make reset    delete that saved state: the next make run starts afresh with new demo data"
	@echo "make test     the whole test suite on two workers (about 12 minutes on 2 cores; TEST_WORKERS=0: one process, about 20;"
	@echo "              installs Debian chromium for the console's browser tests when root;"
	@echo "              CI=true fails instead of skipping node tools or the browser)"
	@echo "make token AS=<demo user>   an ID token for a running local stack (e.g. AS=agent.jakarta)"
	@echo "make outbox   SMS, emails and ops alerts a running local stack sent (masked), newest last; ARGS=\"--channel sms|email|ops --json\""
	@echo "make trigger JOB=<name> DATE=YYYY-MM-DD   fire a job of a running local stack now, as on that date (DATE: today, Asia/Jakarta;"
	@echo "              JOB=analytics-export exports DATE itself; make trigger lists the jobs; ARGS=--json)"
	@echo "make sms-reply FROM=<phone> TEXT=STOP   a customer's SMS reply to our number (STOP, BERHENTI, START, MULAI), handled"
	@echo "              by the stack's inbound SMS function as in the cloud"
	@echo "make time-scale SCALE=3600   workflows of a running local stack wait 3600 times shorter from now on (an"
	@echo "              hour of SLA in a second), no restart; without SCALE: show it"
	@echo "make export-ls [DIR=<dir>]   the analytics exports in a running local stack's bucket; DIR: copy them there; ARGS=--json"
	@echo "make package  deployable CloudFormation (chalice package + infra/template.yaml) in build/package/sam.yaml (about 1 minute)"
	@echo "make lint     ruff, mypy, and mypy --strict on chalicelib/domain and chalicelib/services (about 1 minute)"
	@echo "make bench    cold start, DynamoDB requests per operation, reminder job reads, analytics export (100k and 1M"
	@echo "              interactions; about an hour) -> docs/performance.md; ARGS=--export-only, --skip-export: ARGS=--help"

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@echo "Installing the pinned Python packages into $(VENV) (the first time takes about 2 minutes)..."
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt -c constraints.txt
	@touch $(STAMP)

run: $(STAMP) $(NODE_STAMP)
	$(PY) -m infra.local_stack $(ARGS)

reset: $(STAMP)
	@$(PY) -m infra.local_state $(ARGS)

# Node tools (package.json, pinned in package-lock.json): redocly for the contract test, iam-simulate for the
# local stack's IAM (infra/iam_local.py). Without npm both are skipped, and the tests and the stack say so.
$(NODE_STAMP): package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error && touch $(NODE_STAMP); \
	else echo "note: no npm here: the redocly lint of /openapi.json is skipped and IAM is not enforced locally"; fi

# Two workers (pytest-xdist), each with its own moto stack, each test module on one of them (their data and the
# stacks they start are their own); TEST_WORKERS=0 runs everything in this one process.
TEST_WORKERS ?= 2
test: $(STAMP) $(NODE_STAMP) chromium
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) $(ARGS)

# The console's browser tests drive Debian's Chromium (never `playwright install`). Installed here when it is
# missing and this is root with apt (as on CI); otherwise the browser tests say they were skipped and why.
chromium:
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the console's browser tests (about a minute)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: no chromium and no root apt here: the console's browser tests are skipped"; fi; fi

token: $(STAMP)
	@$(PY) -m infra.token "$(TOKEN_USER)" $(ARGS)

outbox: $(STAMP)
	@$(PY) -m infra.outbox $(ARGS)

trigger: $(STAMP)
	@$(PY) -m infra.trigger "$(JOB)" "$(DATE)" $(ARGS)

time-scale: $(STAMP)
	@$(PY) -m infra.time_scale "$(SCALE)" $(ARGS)

sms-reply: $(STAMP)
	@$(PY) -m infra.sms_reply "$(FROM)" "$(TEXT)" $(ARGS)

export-ls: $(STAMP)
	@$(PY) -m infra.export_ls $(if $(DIR),--download "$(DIR)") $(ARGS)

package: $(STAMP)
	$(PY) -m infra.package

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m mypy --strict chalicelib/domain chalicelib/services

bench: $(STAMP)
	$(PY) -m bench $(ARGS)
