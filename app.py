#!/usr/bin/env python3
"""CDK entry point (`npx cdk synth|deploy`, see cdk.json). Everything is in `infra/`."""

from infra.application import build_app

app, _stack = build_app()
app.synth()
