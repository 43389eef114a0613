"""AWS CDK (Python) infrastructure of mturk-decisions.

`infra.application.build_app()` builds the whole CDK app (used by the top-level
`app.py` and by the tests in `tests/infra/`); `infra.stack.MTurkDecisionsStack` only
wires the constructs of `infra.constructs`, one per concern.
"""
