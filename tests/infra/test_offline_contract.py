"""Contract: the offline stack is the one CDK deploys (issue 10).

`local/stack.py` provisions the service on moto (`provision`) and gives each function its environment
(`function_environment`) by hand; `infra/` deploys it. This module synthesizes the CDK stack (the session
`synth` fixture), starts an offline stack with suffixed names on a moto server of its own (`OfflineStack`:
a `SerializedMotoServer` and `provision(url, DEMO_MTURK_KEY, suffix)`, then the functions' execution
environments and SQS triggers as the tests and the demo run them), describes what exists with boto3, and
compares the two, resource by resource (`compare`, a list of human-readable differences):

- DynamoDB tables: key schema, attribute types, every GSI/LSI (name, keys, projection), TTL attribute;
- SQS queues: visibility timeout, retention, redrive (maxReceiveCount and which DLQ);
- EventBridge: the buses, and every rule with an event pattern: its whole pattern, its targets and their DLQs
  (schedule rules are `LocalSchedule`s of the demo, which invokes the same functions);
- the secrets the functions read (MTURK_SECRET_ID names one that exists);
- S3 buckets: their event notifications (event, key prefix, target queue) and the expiry of their objects;
- the six functions: the names of their environment variables (and the literal values, except the declared
  `LOCAL_OVERRIDES`), what each variable names (a table, a queue, the bus, the secret), their timeout, and the
  queue that triggers them (event source mappings vs `OfflineStack.start`'s triggers).

Resources are matched by identity, never by logical id or name:
- a table, queue, bus or secret by the environment variables naming it on both sides (`AUDIT_TABLE_NAME`,
  `WORK_QUEUE_URL`, several joined with " / "; a variable only one side gives is a difference of its own), else a queue as the DLQ of an identified queue ("DLQ of WORK_QUEUE_URL"), as
  the trigger of a function ("trigger of mturk-decisions-events") or a rule's target, a table by its keys;
- a rule by its bus and targets; a function by its handler (`...handlers.api.handler` in CDK is
  `...handlers.api:handler` here).
So removing a queue, an index, a redrive or a variable from CDK fails `test_the_offline_stack_is_the_deployed_one`
with a message naming it; the last tests prove it by editing the template in memory.

Why a contract test rather than provisioning from cdk.out, by measured figures (development machine, shared
with other work, so ranges): `make synth` takes 12-17 s warm (22 s the first time, with `npm ci` and layer
bundling), its `cdk synth` alone 9-11 s, a jsii synth in-process about 15 s; `provision` takes 0.4-0.8 s on a
running moto server (about 1 s the first time in a process, importing the models). The demo restarts in
seconds and the suites start several stacks: they cannot wait for a synth each time (nor trust a stale or
absent cdk.out), while the session synth tests/infra runs anyway pays for the contract.
"""
from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from local.runtime import child_environment
from local.stack import (
    FUNCTIONS,
    LOCAL_ONLY_VARIABLES,
    LOCAL_OVERRIDES,
    RECONCILER_FUNCTION,
    REGION,
    STACK_VARIABLES,
    SWEEP_FUNCTION,
    OfflineStack,
    function_environment,
    lambda_environments,
)

#: The template's resource types `compare` covers.
COMPARED_TYPES = frozenset({
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
    "AWS::SecretsManager::Secret",
    "AWS::Lambda::Function",
    "AWS::Lambda::EventSourceMapping",
    "AWS::S3::Bucket",
})
#: Resource types the offline stack deliberately does not mirror, and why. A type in neither list fails
#: `test_every_resource_type_of_the_template_is_compared_or_deliberately_not_mirrored`: decide.
NOT_MIRRORED = {
    "AWS::IAM::Role": "moto does not enforce IAM; tests/infra/test_infra_iam.py holds the grants",
    "AWS::IAM::Policy": "moto does not enforce IAM; tests/infra/test_infra_iam.py holds the grants",
    "AWS::KMS::Key": "encryption at rest is not observable offline",
    "AWS::KMS::Alias": "encryption at rest is not observable offline",
    "AWS::Logs::LogGroup": "the functions log to LOCAL_LAMBDA_LOG (the demo's .demo/lambda.log)",
    "AWS::Lambda::LayerVersion": "the functions import the virtualenv's packages",
    "AWS::Lambda::Permission": "the local gateway, triggers and schedules invoke the functions directly",
    "AWS::Lambda::Version": "SnapStart snapshots a published version; offline, each environment starts cold",
    "AWS::Lambda::Alias": "triggers invoke a SnapStart function's `live` alias; offline, the function itself",
    "AWS::Lambda::EventInvokeConfig": "scheduled runs are not retried: LocalSchedule skips a tick instead",
    "AWS::ApiGateway::RestApi": "local.gateway serves the routes, SigV4-signed (tests/integration)",
    "AWS::ApiGateway::Resource": "local.gateway serves the routes, SigV4-signed (tests/integration)",
    "AWS::ApiGateway::Method": "local.gateway serves the routes, SigV4-signed (tests/integration)",
    "AWS::ApiGateway::Model": "the handler validates the bodies itself (api.body_guard, the route models)",
    "AWS::ApiGateway::RequestValidator": "the handler validates the bodies itself",
    "AWS::ApiGateway::GatewayResponse": "local.gateway answers its own errors in the same JSON shape",
    "AWS::ApiGateway::Deployment": "no deployment offline",
    "AWS::ApiGateway::Stage": "no stage offline",
    "AWS::ApiGateway::Account": "account-wide API Gateway logging role: no CloudWatch offline",
    "AWS::CloudWatch::Alarm": "no monitoring offline",
    "AWS::CloudWatch::Dashboard": "no monitoring offline",
    "AWS::SNS::Topic": "alarm notifications: no monitoring offline",
    "AWS::SNS::TopicPolicy": "alarm notifications: no monitoring offline",
    "AWS::SNS::Subscription": "alarm notifications: no monitoring offline",
    "AWS::SQS::QueuePolicy": "moto does not enforce queue policies (who may send: tests/infra/test_infra_events.py)",
    "AWS::S3::BucketPolicy": "moto does not enforce bucket policies (TLS only: tests/infra/test_infra_uploads.py)",
    "AWS::Events::Archive": "replay is an operator's tool, not part of the service's flow",
    "AWS::Events::EventBusPolicy": "moto does not enforce bus policies (who may put events: tests/infra)",
    "AWS::CDK::Metadata": "CDK's own",
}
SERVICE_PACKAGE = "mturk_decisions."  # functions of other packages (CDK's custom resources) are CDK's own
SQS_DEFAULT_VISIBILITY_TIMEOUT = 30
SQS_DEFAULT_RETENTION = 4 * 24 * 3600


# ---- both sides, described alike ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ref:
    """An environment value or property naming a resource: its kind (table, queue, bus, secret; or what else it
    is: `missing` for a logical id the template does not have) and its id on its side (logical id, name, URL)."""

    kind: str
    rid: str


@dataclass
class Raw:
    """One side's resources by their own ids (logical ids in the template, names and URLs locally)."""

    tables: dict[str, dict] = field(default_factory=dict)
    queues: dict[str, dict] = field(default_factory=dict)
    buses: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    rules: dict[str, dict] = field(default_factory=dict)  # {"bus": rid | None, "pattern", "targets": [...]}
    functions: dict[str, dict] = field(default_factory=dict)  # by local handler: {"env", "triggers", "timeout"}
    buckets: dict[str, dict] = field(default_factory=dict)  # {"notifications": [{event, prefix, ref}], "expiry"}


@dataclass
class Side:
    """One side's resources by identity (see the module docstring), as `compare` takes them."""

    tables: dict[str, dict] = field(default_factory=dict)
    queues: dict[str, dict] = field(default_factory=dict)
    buses: dict[str, dict] = field(default_factory=dict)
    secrets: dict[str, dict] = field(default_factory=dict)
    rules: dict[str, dict] = field(default_factory=dict)
    functions: dict[str, dict] = field(default_factory=dict)
    buckets: dict[str, dict] = field(default_factory=dict)
    #: The identity of each resource, by kind and by its id on its side (for tests naming a logical id).
    identities: dict[str, dict[str, str]] = field(default_factory=dict)


def label(handler: str) -> str:
    """A function as messages name it: its local name when the local stack knows its handler."""
    return FUNCTIONS[handler].name if handler in FUNCTIONS else handler


def local_handler(cdk_handler: str) -> str:
    """`package.module.function` (CDK's Handler) as `package.module:function` (the local stack's)."""
    module, _, function = cdk_handler.rpartition(".")
    return f"{module}:{function}"


def key_schema(elements: list[dict]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(((e["AttributeName"], e["KeyType"]) for e in elements), key=lambda e: e[1] != "HASH"))


def indexes(definitions: list[dict] | None) -> dict[str, dict]:
    return {
        index["IndexName"]: {
            "keys": key_schema(index["KeySchema"]),
            "projection": (index.get("Projection", {}).get("ProjectionType", "ALL"),
                           tuple(sorted(index.get("Projection", {}).get("NonKeyAttributes", [])))),
        }
        for index in definitions or []
    }


def resource_variables(raw: Raw) -> set[str]:
    """The environment variables that name a resource on `raw`'s side."""
    return {name for f in raw.functions.values() for name, value in f["env"].items() if isinstance(value, Ref)}


def identify(raw: Raw, naming: set[str] | None = None) -> Side:
    """`raw`'s resources by identity: the variables naming them (of `naming`, by default all), else their
    relations (see the module docstring)."""
    aliases: dict[Ref, set[str]] = {}
    for function in raw.functions.values():
        for name, value in function["env"].items():
            if isinstance(value, Ref):
                aliases.setdefault(value, set()).add(name)

    def by_alias(kind: str, rid: str) -> str | None:
        names = {name for name in aliases.get(Ref(kind, rid), ()) if naming is None or name in naming}
        return " / ".join(sorted(names)) if names else None

    def unique(identities: dict[str, str]) -> dict[str, str]:
        seen: dict[str, int] = {}
        for rid in sorted(identities):
            seen[identities[rid]] = seen.get(identities[rid], 0) + 1
            if seen[identities[rid]] > 1:
                identities[rid] = f"{identities[rid]} #{seen[identities[rid]]}"
        return identities

    tables = unique({rid: by_alias("table", rid) or f"keyed {dict(t['keys'])}" for rid, t in raw.tables.items()})
    secrets = unique({rid: by_alias("secret", rid) or f"<{rid}>" for rid in raw.secrets})
    buses = unique({rid: by_alias("bus", rid) or f"<{rid}>" for rid in raw.buses})
    buckets = unique({rid: by_alias("bucket", rid) or f"<{rid}>" for rid in raw.buckets})

    def bus_identity(rid: str | None) -> str:
        return "the default bus" if rid is None else buses.get(rid, f"<{rid}>")

    queues: dict[str, str] = {rid: alias for rid in raw.queues if (alias := by_alias("queue", rid))}

    def name_dead_letter_queues() -> None:
        changed = True
        while changed:
            changed = False
            for rid, queue in raw.queues.items():
                dlq = (queue["redrive"] or {}).get("dead_letter_queue")
                if rid in queues and dlq in raw.queues and dlq not in queues:
                    queues[dlq] = f"DLQ of {queues[rid]}"
                    changed = True

    name_dead_letter_queues()
    for handler, function in sorted(raw.functions.items()):
        for rid in function["triggers"]:
            if rid in raw.queues and rid not in queues:
                queues[rid] = f"trigger of {label(handler)}"
    name_dead_letter_queues()
    for rule in raw.rules.values():
        for target in rule["targets"]:
            if target["ref"].kind == "queue" and target["ref"].rid in raw.queues and target["ref"].rid not in queues:
                queues[target["ref"].rid] = f"target of a rule on {bus_identity(rule['bus'])}"
    name_dead_letter_queues()
    queues = unique({rid: queues.get(rid, f"<{rid}>") for rid in raw.queues})
    identities = {"table": tables, "queue": queues, "bus": buses, "secret": secrets, "bucket": buckets}

    def named(ref: Ref | None) -> tuple[str, str] | None:
        """(kind, identity) of what `ref` names."""
        if ref is None:
            return None
        return ref.kind, identities.get(ref.kind, {}).get(ref.rid, f"<{ref.rid}>")

    def display(kind: str, rid: str) -> dict:
        return {"aliases": sorted(aliases.get(Ref(kind, rid), ()))}

    side = Side(identities=identities)
    side.tables = {tables[rid]: {**t, **display("table", rid)} for rid, t in raw.tables.items()}
    side.secrets = {secrets[rid]: display("secret", rid) for rid in raw.secrets}
    side.buses = {buses[rid]: display("bus", rid) for rid in raw.buses}
    for rid, queue in raw.queues.items():
        redrive = queue["redrive"]
        side.queues[queues[rid]] = {
            **queue,
            **display("queue", rid),
            "redrive": None if redrive is None else {
                "max_receive_count": redrive["max_receive_count"],
                "dead_letter_queue": queues.get(redrive["dead_letter_queue"], f"<{redrive['dead_letter_queue']}>"),
            },
        }
    for rule in raw.rules.values():
        targets = {named(t["ref"]): named(t["dead_letter_queue"]) for t in rule["targets"]}
        name = f"on {bus_identity(rule['bus'])} to {', '.join(sorted(f'{k} {i}' for k, i in targets)) or 'nothing'}"
        side.rules[name] = {"pattern": rule["pattern"], "targets": targets}
    for rid, bucket in raw.buckets.items():
        side.buckets[buckets[rid]] = {
            **display("bucket", rid), "expiry_days": bucket["expiry_days"],
            "notifications": sorted((n["event"], n["prefix"], named(n["ref"])) for n in bucket["notifications"]),
        }
    for handler, function in raw.functions.items():
        side.functions[handler] = {
            "env": {name: named(value) if isinstance(value, Ref) else value for name, value in function["env"].items()},
            "triggers": sorted(queues.get(rid, f"<{rid}>") for rid in function["triggers"]),
            "timeout": function["timeout"],
        }
    return side


# ---- the template's side --------------------------------------------------------------------------------------
RESOURCE_KINDS = {
    "AWS::DynamoDB::Table": "table",
    "AWS::SQS::Queue": "queue",
    "AWS::Events::EventBus": "bus",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::Lambda::Function": "function",
    "AWS::S3::Bucket": "bucket",
}


def referenced(value: Any) -> list[str]:
    """The logical ids an intrinsic (`Ref`, `Fn::GetAtt`, nested in any other) names, in order, once each."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str) and not inner.startswith("AWS::"):
                found.append(inner)
            elif key == "Fn::GetAtt":
                found.append(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            else:
                found.extend(referenced(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(referenced(inner))
    return list(dict.fromkeys(found))


def template_raw(template: dict) -> Raw:
    resources: dict[str, dict] = template["Resources"]

    def of_type(resource_type: str) -> dict[str, dict]:
        return {lid: r.get("Properties", {}) for lid, r in resources.items() if r["Type"] == resource_type}

    def ref(value: Any) -> Ref | str | None:
        """A literal as it is; an intrinsic as the resource it names."""
        if value is None or isinstance(value, (str, int, float, bool)):
            return None if value is None else str(value)
        ids = referenced(value)
        if len(ids) != 1:
            return Ref("expression", json.dumps(value, sort_keys=True))
        if ids[0] not in resources:
            return Ref("missing", ids[0])
        return Ref(RESOURCE_KINDS.get(resources[ids[0]]["Type"], resources[ids[0]]["Type"]), ids[0])

    raw = Raw()
    for lid, props in of_type("AWS::DynamoDB::Table").items():
        ttl = props.get("TimeToLiveSpecification") or {}
        raw.tables[lid] = {
            "keys": key_schema(props["KeySchema"]),
            "attributes": {a["AttributeName"]: a["AttributeType"] for a in props.get("AttributeDefinitions", [])},
            "indexes": indexes(props.get("GlobalSecondaryIndexes")),
            "local_indexes": indexes(props.get("LocalSecondaryIndexes")),
            "ttl": ttl.get("AttributeName") if ttl.get("Enabled") else None,
        }
    for lid, props in of_type("AWS::SQS::Queue").items():
        redrive = props.get("RedrivePolicy")
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        target = ref(redrive["deadLetterTargetArn"]) if redrive else None
        raw.queues[lid] = {
            "visibility_timeout": int(props.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT)),
            "retention": int(props.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)),
            "redrive": None if not redrive else {
                "max_receive_count": int(redrive["maxReceiveCount"]),
                "dead_letter_queue": target.rid if isinstance(target, Ref) else str(target),
            },
        }
    raw.buses = set(of_type("AWS::Events::EventBus"))
    raw.secrets = set(of_type("AWS::SecretsManager::Secret"))
    for lid, props in of_type("AWS::Events::Rule").items():
        if "EventPattern" not in props:  # a schedule: the demo's LocalSchedule (see the module docstring)
            continue
        bus = ref(props.get("EventBusName"))
        raw.rules[lid] = {
            "bus": bus.rid if isinstance(bus, Ref) else bus,
            "pattern": props["EventPattern"],
            "targets": [{"ref": ref(t["Arn"]) if not isinstance(ref(t["Arn"]), str) else Ref("arn", t["Arn"]),
                         "dead_letter_queue": ref((t.get("DeadLetterConfig") or {}).get("Arn"))}
                        for t in props.get("Targets", [])],
        }
    for lid, props in of_type("AWS::S3::Bucket").items():
        rules = [r for r in (props.get("LifecycleConfiguration") or {}).get("Rules", []) if r.get("Status") == "Enabled"]
        raw.buckets[lid] = {
            "expiry_days": next((r["ExpirationInDays"] for r in rules if "ExpirationInDays" in r), None),
            "notifications": [{"event": c["Event"], "ref": ref(c["Queue"]), "prefix": next(
                (rule["Value"] for rule in c.get("Filter", {}).get("S3Key", {}).get("Rules", [])
                 if rule["Name"].lower() == "prefix"), "")}
                for c in (props.get("NotificationConfiguration") or {}).get("QueueConfigurations", [])],
        }
    mappings = of_type("AWS::Lambda::EventSourceMapping").values()
    aliases = {lid: referenced(props.get("FunctionName")) for lid, props in of_type("AWS::Lambda::Alias").items()}

    def invoked(mapping: dict) -> list[str]:
        """The function a mapping invokes: itself, or the one its `live` alias (SnapStart) stands for."""
        names = referenced(mapping.get("FunctionName"))
        return aliases.get(names[0], names) if len(names) == 1 else names

    for lid, props in of_type("AWS::Lambda::Function").items():
        if not str(props.get("Handler", "")).startswith(SERVICE_PACKAGE):
            continue
        raw.functions[local_handler(props["Handler"])] = {
            "env": {name: ref(value) for name, value in (props.get("Environment") or {}).get("Variables", {}).items()},
            "triggers": [source.rid for m in mappings
                         if invoked(m) == [lid]
                         and isinstance(source := ref(m.get("EventSourceArn")), Ref)],
            "timeout": float(props.get("Timeout", 3)),
        }
    return raw


# ---- the offline stack's side ---------------------------------------------------------------------------------
def local_raw(moto_url: str, suffix: str, environments: dict[str, dict[str, str]], timeouts: dict[str, float],
              triggers: dict[str, list[str]]) -> Raw:
    """What exists on moto with `suffix` in its name, and the functions' environments (`environments`: the
    variables the stack gives each, by handler), timeouts and triggers (queue URLs, by handler)."""
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=moto_url)

    dynamodb, sqs, events, secrets = client("dynamodb"), client("sqs"), client("events"), client("secretsmanager")
    s3 = client("s3")
    raw = Raw()
    table_names = [name for page in dynamodb.get_paginator("list_tables").paginate()
                   for name in page["TableNames"] if suffix in name]
    for name in table_names:
        table = dynamodb.describe_table(TableName=name)["Table"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        raw.tables[name] = {
            "keys": key_schema(table["KeySchema"]),
            "attributes": {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])},
            "indexes": indexes(table.get("GlobalSecondaryIndexes")),
            "local_indexes": indexes(table.get("LocalSecondaryIndexes")),
            "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
        }
    urls = [url for url in sqs.list_queues(MaxResults=1000).get("QueueUrls", []) if suffix in url]
    attributes = {url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"] for url in urls}
    url_of_arn = {a["QueueArn"]: url for url, a in attributes.items()}
    for url, a in attributes.items():
        redrive = json.loads(a["RedrivePolicy"]) if a.get("RedrivePolicy") else None
        raw.queues[url] = {
            "visibility_timeout": int(a.get("VisibilityTimeout", SQS_DEFAULT_VISIBILITY_TIMEOUT)),
            "retention": int(a.get("MessageRetentionPeriod", SQS_DEFAULT_RETENTION)),
            "redrive": None if not redrive else {
                "max_receive_count": int(redrive["maxReceiveCount"]),
                "dead_letter_queue": url_of_arn.get(redrive["deadLetterTargetArn"], redrive["deadLetterTargetArn"]),
            },
        }
    raw.buses = {bus["Name"] for bus in events.list_event_buses()["EventBuses"] if suffix in bus["Name"]}

    def target_ref(arn: str | None) -> Ref | None:
        if arn is None:
            return None
        return Ref("queue", url_of_arn[arn]) if arn in url_of_arn else Ref("arn", arn)

    for bus in raw.buses:
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            if not rule.get("EventPattern"):
                continue
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            raw.rules[rule["Arn"]] = {
                "bus": bus,
                "pattern": json.loads(rule["EventPattern"]),
                "targets": [{"ref": target_ref(t["Arn"]),
                             "dead_letter_queue": target_ref((t.get("DeadLetterConfig") or {}).get("Arn"))}
                            for t in targets],
            }
    for bucket in s3.list_buckets()["Buckets"]:
        if suffix in bucket["Name"]:
            raw.buckets[bucket["Name"]] = local_bucket(s3, bucket["Name"], url_of_arn)
    secret_ids = {}
    for secret in secrets.list_secrets()["SecretList"]:
        if suffix in secret["Name"]:
            raw.secrets.add(secret["Name"])
            secret_ids.update({secret["Name"]: secret["Name"], secret["ARN"]: secret["Name"]})

    def ref(value: str) -> Ref | str:
        """The resource a variable's value names on this stack, else the literal."""
        for kind, names in (("table", raw.tables), ("queue", raw.queues), ("bus", raw.buses), ("bucket", raw.buckets)):
            if value in names:
                return Ref(kind, value)
        return Ref("secret", secret_ids[value]) if value in secret_ids else value

    for handler, env in environments.items():
        raw.functions[handler] = {
            "env": {name: ref(value) for name, value in env.items()},
            "triggers": list(triggers.get(handler, [])),
            "timeout": float(timeouts[handler]),
        }
    return raw


def local_bucket(s3: Any, name: str, url_of_arn: dict[str, str]) -> dict:
    """A bucket's notifications (one per event, its target queue by URL) and the expiry of its objects."""
    notifications = s3.get_bucket_notification_configuration(Bucket=name).get("QueueConfigurations", [])
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    except s3.exceptions.ClientError:
        rules = []
    return {
        "expiry_days": next((r["Expiration"]["Days"] for r in rules if r.get("Status") == "Enabled"
                             and "Days" in r.get("Expiration", {})), None),
        "notifications": [{"event": event, "ref": Ref("queue", url_of_arn.get(c["QueueArn"], c["QueueArn"])),
                           "prefix": next((rule["Value"] for rule in c.get("Filter", {}).get("Key", {}).get(
                               "FilterRules", []) if rule["Name"].lower() == "prefix"), "")}
                          for c in notifications for event in c["Events"]],
    }


# ---- the comparison -------------------------------------------------------------------------------------------
def sides(template: Raw, local: Raw) -> tuple[Side, Side]:
    """Both sides by identity, named by the variables both give (one the other lacks is a difference of its own,
    which must not also make every resource it names look missing)."""
    naming = resource_variables(template) & resource_variables(local)
    return identify(template, naming), identify(local, naming)


def compare(template_resources: Raw, local_resources: Raw) -> list[str]:
    """Every difference between the CDK template and the offline stack, one human-readable line each."""
    template, local = sides(template_resources, local_resources)
    differences: list[str] = []

    def pair(kind: str, deployed: dict, offline: dict, details: Callable[[dict, dict], list[str]]) -> None:
        def name(identity: str) -> str:
            aliases = (deployed.get(identity) or offline.get(identity) or {}).get("aliases") or []
            shown = [alias for alias in aliases if alias not in identity]
            return f"{kind} {identity}" + (f" ({', '.join(shown)})" if shown else "")

        for identity in sorted(deployed.keys() - offline.keys()):
            differences.append(f"{name(identity)}: in the template, not provisioned locally")
        for identity in sorted(offline.keys() - deployed.keys()):
            differences.append(f"{name(identity)}: provisioned locally, not in the template")
        for identity in sorted(deployed.keys() & offline.keys()):
            differences.extend(f"{name(identity)}: {d}" for d in details(deployed[identity], offline[identity]))

    def differ(what: str, deployed: Any, offline: Any) -> list[str]:
        return [] if deployed == offline else [f"{what} {deployed} in the template, {offline} locally"]

    def table(deployed: dict, offline: dict) -> list[str]:
        found = differ("key schema", deployed["keys"], offline["keys"])
        for attribute in sorted(deployed["attributes"].keys() | offline["attributes"].keys()):
            found += differ(f"attribute {attribute!r} of type", deployed["attributes"].get(attribute),
                            offline["attributes"].get(attribute))
        for kind in ("indexes", "local_indexes"):
            what = "global secondary index" if kind == "indexes" else "local secondary index"
            for index in sorted(deployed[kind].keys() - offline[kind].keys()):
                found.append(f"{what} {index!r} in the template, missing locally")
            for index in sorted(offline[kind].keys() - deployed[kind].keys()):
                found.append(f"{what} {index!r} locally, not in the template")
            for index in sorted(deployed[kind].keys() & offline[kind].keys()):
                found += differ(f"{what} {index!r}: keys", deployed[kind][index]["keys"], offline[kind][index]["keys"])
                found += differ(f"{what} {index!r}: projection", deployed[kind][index]["projection"],
                                offline[kind][index]["projection"])
        return found + differ("TTL attribute", deployed["ttl"], offline["ttl"])

    def redrive(value: dict | None) -> str:
        return "none" if value is None else (f"to {value['dead_letter_queue']} "
                                             f"after {value['max_receive_count']} receives")

    def queue(deployed: dict, offline: dict) -> list[str]:
        return (differ("visibility timeout (s)", deployed["visibility_timeout"], offline["visibility_timeout"])
                + differ("retention (s)", deployed["retention"], offline["retention"])
                + differ("redrive", redrive(deployed["redrive"]), redrive(offline["redrive"])))

    def rule(deployed: dict, offline: dict) -> list[str]:
        found = differ("event pattern", json.dumps(deployed["pattern"], sort_keys=True),
                       json.dumps(offline["pattern"], sort_keys=True))
        for target in sorted(deployed["targets"].keys() & offline["targets"].keys()):
            found += differ(f"target {target[0]} {target[1]}: dead-letter queue",
                            value(deployed["targets"][target]), value(offline["targets"][target]))
        return found

    def value(named: Any) -> str:
        if named is None:
            return "none"
        if not isinstance(named, tuple):
            return repr(named)
        return f"a missing resource {named[1]}" if named[0] == "missing" else f"{named[0]} {named[1]}"

    def bucket(deployed: dict, offline: dict) -> list[str]:
        def shown(notifications: list) -> str:
            return "; ".join(f"{event} under {prefix!r} to {value(target)}" for event, prefix, target in notifications)

        return (differ("notifications", shown(deployed["notifications"]) or "none",
                       shown(offline["notifications"]) or "none")
                + differ("objects expire after (days)", deployed["expiry_days"], offline["expiry_days"]))

    def function(deployed: dict, offline: dict) -> list[str]:
        in_template, given = deployed["env"].keys(), offline["env"].keys()
        found = [f"{name} in the template, not given locally" for name in sorted(in_template - given)]
        found += [f"{name} given locally, not in the template" for name in sorted(given - in_template)]
        for name in sorted(in_template & given):
            there, here = deployed["env"][name], offline["env"][name]
            if isinstance(there, tuple) or isinstance(here, tuple):
                found += differ(f"{name} names", value(there), value(here))
            elif name not in LOCAL_OVERRIDES:
                found += differ(f"{name} =", value(there), value(here))
        found += differ("triggered by queue(s)", deployed["triggers"] or "none", offline["triggers"] or "none")
        return found + differ("timeout (s)", deployed["timeout"], offline["timeout"])

    pair("table", template.tables, local.tables, table)
    pair("queue", template.queues, local.queues, queue)
    pair("event bus", template.buses, local.buses, lambda deployed, offline: [])
    pair("rule", template.rules, local.rules, rule)
    pair("secret", template.secrets, local.secrets, lambda deployed, offline: [])
    pair("bucket", template.buckets, local.buckets, bucket)
    pair("function", {label(h): f for h, f in template.functions.items()},
         {label(h): f for h, f in local.functions.items()}, function)
    return differences


# ---- fixtures -------------------------------------------------------------------------------------------------
@dataclass
class Offline:
    stack: OfflineStack
    suffix: str
    environments: dict[str, dict[str, str]]  # every variable of each function's execution environments
    inherited: dict[str, str]                # this process's environment while the stack ran
    raw: Raw


def template_variables(template: dict) -> set[str]:
    return {name for function in template_raw(template).functions.values() for name in function["env"]}


@pytest.fixture(scope="module")
def offline(synth) -> Iterator[Offline]:
    """An offline stack with names of its own, described with boto3 while it runs; this process's environment
    as it was afterwards (the stack points the AWS SDK at its moto server). The stack's own variables are taken
    out of the environment the functions inherit, so what they get is what the stack gives."""
    saved = dict(os.environ)
    for name in STACK_VARIABLES:
        os.environ.pop(name, None)
    suffix = f"-contract-{uuid.uuid4().hex[:8]}"
    try:
        with OfflineStack(suffix=suffix, concurrency=1) as stack:
            runtimes = [stack.api_environments, stack.worker_environments, *stack.event_environments,
                        stack.upload_environments, stack.environments(SWEEP_FUNCTION),
                        stack.environments(RECONCILER_FUNCTION)]
            environments = {runtime.handler: dict(runtime._env) for runtime in runtimes}
            by_name = {function.name: handler for handler, function in FUNCTIONS.items()}
            triggers: dict[str, list[str]] = {}
            for trigger in (stack.trigger, *stack.event_triggers, stack.upload_trigger):
                triggers.setdefault(by_name.get(trigger.runtime.function_name, trigger.runtime.function_name),
                                    []).append(trigger._url)
            given = STACK_VARIABLES | template_variables(synth.json)
            raw = local_raw(
                stack.moto_url, suffix,
                {handler: {n: v for n, v in env.items() if n in given} for handler, env in environments.items()},
                {runtime.handler: runtime.timeout_seconds for runtime in runtimes},
                triggers,
            )
            yield Offline(stack, suffix, environments, dict(os.environ), raw)
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def deployed(synth) -> Raw:
    return template_raw(synth.json)


@pytest.fixture(scope="module")
def identities(deployed, offline) -> dict[str, dict[str, str]]:
    """The identity of each of the template's resources, by kind and logical id."""
    return sides(deployed, offline.raw)[0].identities


def drift(synth, offline: Offline, change: Callable[[dict], None]) -> list[str]:
    """The differences once `change` has edited (a copy of) the template's resources."""
    template = copy.deepcopy(synth.json)
    change(template["Resources"])
    return compare(template_raw(template), offline.raw)


# ---- the contract ---------------------------------------------------------------------------------------------
def test_the_offline_stack_is_the_deployed_one(deployed, offline):
    # Given the template's resources and the offline stack, described while it ran
    # When
    differences = compare(deployed, offline.raw)
    # Then
    assert not differences, ("local/stack.py (provision, the functions' environments, the triggers) differs from "
                             "the CDK stack:\n  " + "\n  ".join(differences))


def test_the_comparison_sees_every_function_queue_table_and_rule(deployed, offline):
    # Given the template's resources and the offline stack, described while it ran
    # When / Then
    # Guards the comparison itself: an empty side would compare equal to an empty side.
    assert sorted(label(h) for h in deployed.functions) == sorted(f.name for f in FUNCTIONS.values())
    for side in sides(deployed, offline.raw):
        assert len(side.tables) >= 4 and len(side.queues) >= 8 and side.rules and side.secrets and side.buses
        assert [b["notifications"] for b in side.buckets.values()], side.buckets
        assert sum(bool(f["triggers"]) for f in side.functions.values()) >= 3


def test_every_resource_type_of_the_template_is_compared_or_deliberately_not_mirrored(synth):
    # Given
    types = {resource["Type"] for resource in synth.json["Resources"].values()}
    # When
    undecided = sorted(types - COMPARED_TYPES - NOT_MIRRORED.keys())
    # Then
    assert not undecided, (f"the template has {undecided}: mirror them in local/stack.py (provision) and compare "
                           f"them here, or list in NOT_MIRRORED why the offline stack does without")


def test_the_functions_get_no_variable_the_local_stack_does_not_declare(offline):
    # Given the offline stack, described while it ran
    # When / Then
    # Every variable of an execution environment is the template's (compared above), a declared local-only one,
    # Lambda's own, or inherited from this process.
    for handler, env in offline.environments.items():
        lambdas_own = child_environment({}, handler, FUNCTIONS[handler].name)
        undeclared = sorted(name for name, value in env.items()
                            if name not in STACK_VARIABLES and name not in LOCAL_ONLY_VARIABLES
                            and name not in lambdas_own and offline.inherited.get(name) != value)
        assert not undeclared, f"{FUNCTIONS[handler].name} gets {undeclared}: declare them in local/stack.py"


def test_the_demo_gives_each_function_the_variables_the_test_stack_gives(offline):
    # Given
    from local.demo import function_env

    # When
    demo_env = function_env(offline.stack.env, "http://127.0.0.1:9")
    # Then
    for handler, function in FUNCTIONS.items():
        runtime = lambda_environments(function, demo_env, concurrency=1)
        try:
            demo_names = {name for name in runtime._env if name in STACK_VARIABLES}
        finally:
            runtime.close()
        assert demo_names == {name for name in offline.environments[handler] if name in STACK_VARIABLES}, function.name
        assert demo_names == {name for name in function_environment(function, demo_env) if name in STACK_VARIABLES}


def test_with_the_optional_settings_on_the_functions_get_the_variables_the_template_then_gives(restricted_synth,
                                                                                                offline):
    # Given the optional settings the restricted synth turns on (websiteRejectionGrace: provisional website
    # rejections), configured locally as the template configures them
    deployed = template_raw(restricted_synth.json)
    configured = {name: value for function in deployed.functions.values() for name, value in function["env"].items()
                  if any(name in f.optional for f in FUNCTIONS.values()) and isinstance(value, str)}
    assert configured, "the restricted synth turns no optional setting on any more: pick another"
    env = {**offline.stack.lambda_env(), **configured}
    # Then each function gets the variables the template gives it then
    for handler, function in deployed.functions.items():
        given = {name for name in function_environment(handler, env) if name in STACK_VARIABLES | function["env"].keys()}
        assert given == set(function["env"]), (label(handler), sorted(given ^ set(function["env"])))


def test_the_secret_the_functions_read_holds_the_keys_the_template_documents(offline):
    # Given
    from infra.constructs.mturk_secret import SECRET_JSON_KEYS

    secrets = boto3.client("secretsmanager", region_name=REGION, endpoint_url=offline.stack.moto_url)
    # When / Then each function's secret holds the documented keys
    for handler, env in offline.environments.items():
        value = secrets.get_secret_value(SecretId=env["MTURK_SECRET_ID"])["SecretString"]
        assert sorted(json.loads(value)) == sorted(SECRET_JSON_KEYS), FUNCTIONS[handler].name


# ---- drift is named: the template edited in memory ------------------------------------------------------------
def resources_of(resources: dict, resource_type: str) -> dict[str, dict]:
    return {lid: r for lid, r in resources.items() if r["Type"] == resource_type}


def named_by(resources: dict, variable: str) -> str:
    """The logical id of the resource the functions' `variable` names."""
    found = {ref for r in resources_of(resources, "AWS::Lambda::Function").values()
             for name, value in r["Properties"].get("Environment", {}).get("Variables", {}).items()
             if name == variable for ref in referenced(value)}
    assert len(found) == 1, (variable, found)
    return found.pop()


def mentions(differences: list[str], *words: str) -> bool:
    return any(all(word in difference for word in words) for difference in differences)


def test_removing_any_index_from_the_template_names_the_index_and_its_table(synth, identities, offline):
    # When / Then each index removed in turn is named with its table
    checked = 0
    for lid, table in resources_of(synth.json["Resources"], "AWS::DynamoDB::Table").items():
        for index in table["Properties"].get("GlobalSecondaryIndexes", []):
            def change(resources: dict, lid: str = lid, name: str = index["IndexName"]) -> None:
                props = resources[lid]["Properties"]
                props["GlobalSecondaryIndexes"] = [i for i in props["GlobalSecondaryIndexes"] if i["IndexName"] != name]

            differences = drift(synth, offline, change)
            table_name = identities["table"][lid]
            assert mentions(differences, f"table {table_name}", f"index '{index['IndexName']}' locally, not in the "
                                                                 "template"), differences
            checked += 1
    # And every index was tried
    assert checked >= 6  # audit: by-worker, by-hit, by-pending; batches: by-unqueued; schedule: by-due, by-deadline


def test_removing_a_ttl_from_the_template_names_the_table(synth, offline):
    # Given
    lid = named_by(synth.json["Resources"], "BATCH_TABLE_NAME")
    # When
    differences = drift(synth, offline, lambda resources: resources[lid]["Properties"].pop("TimeToLiveSpecification"))
    # Then
    assert mentions(differences, "table BATCH_TABLE_NAME", "TTL attribute"), differences


def test_removing_any_queues_redrive_from_the_template_names_the_queue(synth, identities, offline):
    # Given the template's queues with a redrive policy
    queues = [lid for lid, q in resources_of(synth.json["Resources"], "AWS::SQS::Queue").items()
              if "RedrivePolicy" in q["Properties"]]
    assert len(queues) >= 3
    # When / Then each one's redrive removed in turn is named
    for lid in queues:
        differences = drift(synth, offline, lambda r, lid=lid: r[lid]["Properties"].pop("RedrivePolicy"))
        assert mentions(differences, f"queue {identities['queue'][lid]}", "redrive none in the template"), differences


def test_removing_any_queue_from_the_template_names_it(synth, identities, offline):
    # When / Then each queue removed in turn is named
    for lid in resources_of(synth.json["Resources"], "AWS::SQS::Queue"):
        differences = drift(synth, offline, lambda resources, lid=lid: resources.pop(lid))
        # named by its identity (for a queue a variable names: that variable, shown beside the local queue)
        assert mentions(differences, identities["queue"][lid], "provisioned locally, not in the template"), differences


def test_removing_any_variable_of_any_function_from_the_template_names_it_and_the_function(synth, offline):
    # When / Then each variable removed in turn is named with its function
    checked = 0
    for lid, function in resources_of(synth.json["Resources"], "AWS::Lambda::Function").items():
        if not function["Properties"]["Handler"].startswith(SERVICE_PACKAGE):
            continue
        handler = local_handler(function["Properties"]["Handler"])
        for variable in function["Properties"].get("Environment", {}).get("Variables", {}):
            def change(resources: dict, lid: str = lid, variable: str = variable) -> None:
                del resources[lid]["Properties"]["Environment"]["Variables"][variable]

            differences = drift(synth, offline, change)
            assert mentions(differences, f"function {label(handler)}: {variable} given locally, not in the template"), \
                differences
            checked += 1
    # And every variable was tried
    assert checked >= 6 * 8  # every function has at least the service's eight


def test_adding_a_variable_to_a_function_in_the_template_names_it(synth, offline):
    # Given
    lid = next(lid for lid, r in resources_of(synth.json["Resources"], "AWS::Lambda::Function").items()
               if r["Properties"]["Handler"].startswith(SERVICE_PACKAGE))
    handler = local_handler(synth.json["Resources"][lid]["Properties"]["Handler"])

    # When
    def change(resources: dict) -> None:
        resources[lid]["Properties"]["Environment"]["Variables"]["NEW_SETTING"] = "on"

    # Then
    assert mentions(drift(synth, offline, change), f"function {label(handler)}", "NEW_SETTING in the template")


def test_a_different_event_pattern_in_the_template_is_named_with_both_patterns(synth, offline):
    # Given
    [lid] = [lid for lid, r in resources_of(synth.json["Resources"], "AWS::Events::Rule").items()
             if "EventPattern" in r["Properties"]]

    # When
    def change(resources: dict) -> None:
        resources[lid]["Properties"]["EventPattern"] = {**resources[lid]["Properties"]["EventPattern"],
                                                        "source": ["acme.qa"]}

    # Then
    assert mentions(drift(synth, offline, change), "rule on EVENT_BUS_NAME", "event pattern", "acme.qa")


def test_a_rule_target_without_its_dead_letter_queue_is_named(synth, offline):
    # Given
    [lid] = [lid for lid, r in resources_of(synth.json["Resources"], "AWS::Events::Rule").items()
             if "EventPattern" in r["Properties"]]

    # When
    def change(resources: dict) -> None:
        for target in resources[lid]["Properties"]["Targets"]:
            target.pop("DeadLetterConfig", None)

    # Then
    assert mentions(drift(synth, offline, change), "rule on EVENT_BUS_NAME", "dead-letter queue none in the template")


def test_a_different_visibility_timeout_or_function_timeout_in_the_template_is_named(synth, offline):
    # Given
    work_queue = named_by(synth.json["Resources"], "WORK_QUEUE_URL")
    # When / Then
    assert mentions(drift(synth, offline, lambda r: r[work_queue]["Properties"].update(VisibilityTimeout=60)),
                    "queue WORK_QUEUE_URL", "visibility timeout (s) 60 in the template")
    # And so is a different function timeout
    [worker] = [lid for lid, r in resources_of(synth.json["Resources"], "AWS::Lambda::Function").items()
                if r["Properties"]["Handler"].endswith(".batch_worker.handler")]
    assert mentions(drift(synth, offline, lambda r: r[worker]["Properties"].update(Timeout=60)),
                    "function mturk-decisions-batch-worker", "timeout (s) 60.0 in the template")


def test_removing_any_trigger_from_the_template_names_the_function(synth, offline):
    # Given the template's event source mappings
    mappings = resources_of(synth.json["Resources"], "AWS::Lambda::EventSourceMapping")
    assert len(mappings) >= 3
    functions = synth.json["Resources"]
    # When / Then each one removed in turn is named by its function
    for lid, mapping in mappings.items():
        [function] = referenced(mapping["Properties"]["FunctionName"])
        function = referenced(functions[function]["Properties"]["FunctionName"])[0] if (
            functions[function]["Type"] == "AWS::Lambda::Alias") else function  # a SnapStart function's alias
        name = label(local_handler(functions[function]["Properties"]["Handler"]))
        differences = drift(synth, offline, lambda resources, lid=lid: resources.pop(lid))
        assert mentions(differences, f"function {name}", "triggered by queue(s) none in the template"), differences


def test_a_function_missing_from_the_template_is_named(synth, offline):
    # Given
    [reconciler] = [lid for lid, r in resources_of(synth.json["Resources"], "AWS::Lambda::Function").items()
                    if local_handler(r["Properties"]["Handler"]) == RECONCILER_FUNCTION.handler]
    # When / Then
    assert mentions(drift(synth, offline, lambda resources: resources.pop(reconciler)),
                    f"function {RECONCILER_FUNCTION.name}", "provisioned locally, not in the template")


def test_a_bucket_without_its_notification_or_with_another_expiry_in_the_template_is_named(synth, offline):
    # Given the upload bucket, which the functions name UPLOAD_BUCKET_NAME
    lid = named_by(synth.json["Resources"], "UPLOAD_BUCKET_NAME")
    # When / Then the template's bucket loses its notification to the uploads queue: the bucket is named
    assert mentions(drift(synth, offline, lambda r: r[lid]["Properties"].pop("NotificationConfiguration")),
                    "bucket UPLOAD_BUCKET_NAME", "notifications none in the template",
                    "trigger of mturk-decisions-upload-parser")
    # And when its objects expire later, both expiries are named
    def later(resources: dict) -> None:
        resources[lid]["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] = 30

    assert mentions(drift(synth, offline, later), "bucket UPLOAD_BUCKET_NAME", "expire after (days) 30 in the template",
                    "7 locally")
