"""A cold request builds the routes of its own concern only: the routers of its path's first segment."""
from __future__ import annotations

import json
import subprocess
import sys

from bench.coldstart import FIRST_REQUEST_ENV
from local.stack import ROOT
from mturk_decisions.api.routes import ROUTERS, ROUTERS_BY_SEGMENT, routers_for

_FIRST_REJECT = r"""
import json, sys
import mturk_decisions.handlers.api as api
from bench.coldstart import _FIRST_REQUEST
event = {}
exec(_FIRST_REQUEST.split("answer = module.handler")[0].replace("import mturk_decisions.handlers.api as module", ""))
answer = api.handler(event, Context())
routers = sorted(name.rpartition(".")[2] for name in sys.modules if name.startswith("mturk_decisions.api.")
                 and name.endswith("_routes"))
resolvers = sorted(name for name in ("appsync", "bedrock_agent", "vpc_lattice", "http_resolver", "lambda_function_url")
                   if f"aws_lambda_powertools.event_handler.{name}" in sys.modules)
from aws_lambda_powertools.event_handler import AppSyncResolver, APIGatewayRestResolver, Response, content_types
print(json.dumps({"status": answer["statusCode"], "code": json.loads(answer["body"])["code"], "routers": routers,
                  "resolvers": resolvers, "later": [AppSyncResolver.__name__, APIGatewayRestResolver.__name__,
                                                    Response.__name__, content_types.APPLICATION_JSON]}))
"""


def test_given_a_fresh_environment_when_its_first_request_is_a_reject_then_only_the_assignment_routes_are_built():
    # Given a fresh interpreter, as a cold Lambda environment
    env = {**FIRST_REQUEST_ENV, "AWS_DEFAULT_REGION": "us-east-1", "PYTHONPATH": f"{ROOT}/lambdas:{ROOT}"}
    # When it serves a reject whose body lacks the feedback
    done = subprocess.run([sys.executable, "-c", _FIRST_REJECT], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    # Then it answered the feedback rule's 400, having imported the assignment routes and no other router, and
    # none of the resolvers Powertools' event_handler package imports (lean_powertools); asked for later, the
    # package still gives every name it has
    assert (answer["status"], answer["code"]) == (400, "INVALID_FEEDBACK"), done.stderr[-2000:]
    assert answer["routers"] == ["assignment_routes"] and answer["resolvers"] == []
    assert answer["later"] == ["AppSyncResolver", "APIGatewayRestResolver", "Response", "application/json"]


def test_given_the_paths_of_the_api_when_routers_are_chosen_then_each_known_segment_has_its_own_and_others_all():
    # Given every segment the routes start with, and a few that none does
    known = {"assignments", "decisions", "batches", "hits", "scheduled-reversals", "hit-types"}
    # When routers are chosen for paths under them
    chosen = {segment: routers_for(f"/{segment}/x/y") for segment in known}
    # Then each known segment has routers of its own, and any other path (or none) includes them all
    assert set(ROUTERS_BY_SEGMENT) == known and all(chosen[s] and set(chosen[s]) <= set(ROUTERS) for s in known)
    assert routers_for("/swagger") == routers_for("/") == routers_for(None) == routers_for("/nope/1") == ROUTERS
