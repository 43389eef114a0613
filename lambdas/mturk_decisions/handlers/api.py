"""Lambda entry point of the API (API Gateway REST proxy events).

The resolver, its routes and their pydantic models are imported on the first request rather than at
module import: the module stays as cheap to import as the Logger and Metrics it needs for its decorators.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths

from mturk_decisions.observability import logger, metrics


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@metrics.log_metrics
def handler(event: dict, context: Any) -> dict:
    from mturk_decisions.api import idempotency
    from mturk_decisions.api.routes import app

    idempotency.register(context)
    return app.resolve(event, context)
