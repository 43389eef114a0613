"""Small Lambda handlers for the execution-environment tests (imported in the child processes)."""
from __future__ import annotations

import os
import time
from typing import Any

#: Set once per execution environment, as a module-level client would be.
COLD_START_AT = time.time()
_invocations = 0


def report(event: dict, context: Any) -> dict:
    """Sleeps if asked, then says which environment answered and what the context held."""
    global _invocations
    _invocations += 1
    time.sleep(float(event.get("sleep", 0)))
    return {"pid": os.getpid(), "invocation": _invocations, "requestId": context.aws_request_id,
            "functionName": context.function_name, "remainingMs": context.get_remaining_time_in_millis(),
            "echo": event.get("echo")}


def fail(event: dict, context: Any) -> dict:
    raise ValueError(f"cannot handle {event.get('echo')}")


def crash(event: dict, context: Any) -> dict:
    """Dies mid-invocation when asked (as an out-of-memory kill would), answers otherwise."""
    if event.get("crash"):
        os._exit(137)
    return {"pid": os.getpid()}


def chatty(event: dict, context: Any) -> dict:
    """Prints to stdout, as Powertools' Logger does: the protocol must not see it."""
    print('{"level": "INFO", "message": "hello from the handler"}')
    return {"printed": True}


def visit(event: dict, context: Any) -> dict:
    """An SQS consumer: each record's body says where to note the visit, how long to take, whether to fail.
    Answers the failed records as partial batch failures; dies at once on a `crash` record."""
    import json

    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("crash"):
            os._exit(137)
        started = time.time()
        time.sleep(float(body.get("sleep", 0)))
        with open(body["log"], "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()} {started} {time.time()} {record['messageId']}\n")
        if body.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
