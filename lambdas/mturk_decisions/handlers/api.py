"""Lambda entry point of the API (API Gateway REST proxy events).

The resolver, its routes and their pydantic models are imported on the first request rather than at
module import: the module stays as cheap to import as the Logger and Metrics it needs for its decorators.
With SnapStart, the before-snapshot hook builds them instead (`mturk_decisions.snapstart`, registered here).

A cold environment's first decision reads its assignment from MTurk in the background while the routes are
built (`api.read_ahead`).

`body_guard` screens the request first, before Powertools parses the body: a body too deep to parse, numbers
Python cannot hold, text that is not valid Unicode, or a control character in the path are answered 400 here.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from mturk_decisions import collector, snapstart
from mturk_decisions.api import lean_powertools
from mturk_decisions.observability import logger, metrics

lean_powertools.register()  # before anything imports Powertools' event_handler: its resolver only
snapstart.register(snapstart.API)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@metrics.log_metrics
@collector.resumes_after_first_invocation
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from mturk_decisions.api import body_guard

    try:
        refused = body_guard.problem(event)
    except Exception:
        logger.exception("the request guard failed; the routes answer the request")
        refused = None
    if refused is not None:
        from mturk_decisions.api.http_errors import http_status

        logger.warning("request refused", extra={"code": refused.code, "status": http_status(refused)})
        return body_guard.refusal(refused, (event.get("requestContext") or {}).get("requestId"))

    from mturk_decisions.api.read_ahead import reading_ahead

    with reading_ahead(event):  # a cold decision's MTurk reads wait while the routes below are built
        from mturk_decisions.api import idempotency
        from mturk_decisions.api.routes import app

        idempotency.register(context)
        return app.resolve(event, context)
