# CDK targets, included by the top Makefile (`include infra/Makefile.mk`), which defines
# PY (the venv's python), VENV and the `setup` target.
#
#   make synth        offline, no credentials: cdk.out/ + resource summary + cdk-nag result
#   make lint-infra   cfn-lint on the synthesized template(s)
#   make bootstrap    once per account/region (needs credentials)
#   make preflight    needs credentials (read-only): synth, then the checks `make deploy` runs first
#   make deploy       needs credentials; CDK_OPTS="-c mturkEndpoint=production" etc.; runs the preflight
#                     first (SKIP_PREFLIGHT=1 bypasses it, ALLOW_NO_ALARM_EMAIL=1 accepts production
#                     without an alarm e-mail)
#   make verify-deploy  needs credentials, after a deploy: signed API call, MTurk secret, an optional
#                     dry-run reject (SANDBOX_ASSIGNMENT_ID=...), alarm drill (NO_DRILL=1 skips it)
#   make destroy      needs credentials; the audit table and its KMS key are retained
#
# Extra CLI options: CDK_OPTS, e.g. make deploy CDK_OPTS="-c mturkEndpoint=sandbox -c alarmEmail=ops@example.com"

CDK_OPTS ?=
CDK := npx --no-install cdk
# The CLI runs `$(PY) app.py` (same as cdk.json's "app", but honours VENV).
CDK_APP := --app "$(PY) app.py"
CDK_ENV := CDK_DISABLE_CLI_TELEMETRY=true
# synth needs no AWS at all: keep the CLI from probing the EC2 instance metadata service.
CDK_SYNTH_ENV := $(CDK_ENV) AWS_EC2_METADATA_DISABLED=true

.PHONY: synth lint-infra bootstrap deploy destroy preflight verify-deploy

# The pinned CDK CLI (package.json / package-lock.json); `npm ci` only when they change.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

synth: setup node_modules/.installed
	rm -f cdk.out/validation-report.json
	$(CDK_SYNTH_ENV) $(CDK) synth --no-notices -q $(CDK_APP) $(CDK_OPTS)
	$(PY) -m infra.synth_summary cdk.out

lint-infra: synth
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

bootstrap: setup node_modules/.installed
	$(CDK_ENV) $(CDK) bootstrap --no-notices $(CDK_APP) $(CDK_OPTS)

# Stops before CloudFormation when the deploy would fail or be unsafe (docs/deploy.md, "Preflight").
# The variables are passed on explicitly so that `make deploy SKIP_PREFLIGHT=1` and an exported
# SKIP_PREFLIGHT=1 both work.
SKIP_PREFLIGHT ?=
ALLOW_NO_ALARM_EMAIL ?=
preflight: synth
	SKIP_PREFLIGHT="$(SKIP_PREFLIGHT)" ALLOW_NO_ALARM_EMAIL="$(ALLOW_NO_ALARM_EMAIL)" \
	  $(PY) -m infra.preflight cdk.out $(CDK_OPTS)

deploy: setup node_modules/.installed preflight
	$(CDK_ENV) $(CDK) deploy --no-notices --require-approval broadening --outputs-file cdk.out/outputs.json $(CDK_APP) $(CDK_OPTS)

destroy: setup node_modules/.installed
	@echo "Note: the audit table and its KMS key are RETAINED (deletion protection on); delete them by hand if you really mean to."
	$(CDK_ENV) $(CDK) destroy --no-notices $(CDK_APP) $(CDK_OPTS)

# After a deploy (same CDK_OPTS, for --profile and -c stackName): one line per check, exit 1 on FAIL.
SANDBOX_ASSIGNMENT_ID ?=
NO_DRILL ?=
verify-deploy: setup
	SANDBOX_ASSIGNMENT_ID="$(SANDBOX_ASSIGNMENT_ID)" NO_DRILL="$(NO_DRILL)" \
	  $(PY) -m infra.verify_deploy --outdir cdk.out $(CDK_OPTS)
