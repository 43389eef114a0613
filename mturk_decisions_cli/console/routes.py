"""(method, path) -> the handler of each page and form of the console."""
from __future__ import annotations

from mturk_decisions_cli.console import assignment, audit, batches, overview, rejections, reversals

ROUTES = {
    ("GET", "/"): overview.show,
    ("GET", "/assignment"): assignment.show,
    ("POST", "/assignment/plan"): assignment.plan,
    ("POST", "/assignment/decide"): assignment.decide,
    ("POST", "/assignment/confirm-reversal"): assignment.confirm_reversal,
    ("POST", "/assignment/cancel-reversal"): assignment.cancel_reversal,
    ("GET", "/rejections"): rejections.show,
    ("POST", "/rejections/plan"): rejections.plan,
    ("POST", "/rejections/apply"): rejections.apply,
    ("GET", "/reversals"): reversals.show,
    ("GET", "/batches"): batches.show,
    ("POST", "/batches/plan"): batches.plan,
    ("POST", "/batches/apply"): batches.apply,
    ("GET", "/batches/view"): batches.view,
    ("GET", "/audit"): audit.show,
    ("GET", "/audit.csv"): audit.export,
}
