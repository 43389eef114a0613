# CDK targets, included by the top Makefile (`include infra/Makefile.mk`), which defines
# PY (the venv's python), VENV and the `setup` target.
#
#   make synth        offline, no credentials: cdk.out/ + resource summary + cdk-nag result
#   make lint-infra   cfn-lint on the synthesized template(s)
#   make bootstrap    once per account/region (needs credentials)
#   make deploy       needs credentials; CDK_OPTS="-c mturkEndpoint=production" etc.
#   make destroy      needs credentials; the audit table and its KMS key are retained
#
# Extra CLI options: CDK_OPTS, e.g. make deploy CDK_OPTS="-c mturkEndpoint=sandbox -c alarmEmail=ops@example.com"

CDK_OPTS ?=
CDK := npx --no-install cdk
# The CLI runs `$(PY) app.py` (same as cdk.json's "app", but honours VENV).
CDK_APP := --app "$(PY) app.py"
CDK_ENV := CDK_DISABLE_CLI_TELEMETRY=true JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
# synth needs no AWS at all: keep the CLI from probing the EC2 instance metadata service.
CDK_SYNTH_ENV := $(CDK_ENV) AWS_EC2_METADATA_DISABLED=true

.PHONY: synth lint-infra bootstrap deploy destroy

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

deploy: setup node_modules/.installed
	$(CDK_ENV) $(CDK) deploy --no-notices --require-approval broadening --outputs-file cdk.out/outputs.json $(CDK_APP) $(CDK_OPTS)

destroy: setup node_modules/.installed
	@echo "Note: the audit table and its KMS key are RETAINED (deletion protection on); delete them by hand if you really mean to."
	$(CDK_ENV) $(CDK) destroy --no-notices $(CDK_APP) $(CDK_OPTS)
