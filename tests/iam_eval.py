"""A small IAM policy evaluator for the synthesized template: "would this request be allowed?".

Checks that only look for a statement in a template are weak; these evaluate the policies the way AWS
does for the cases the stack relies on: explicit Deny wins, then an Allow (from the resource policy, or
the caller's identity policy) is needed. Intrinsic functions are resolved to concrete ARNs for one
account and region. Condition operators it does not know fail loudly rather than guess.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

ACCOUNT, REGION, PARTITION = "111122223333", "us-east-1", "aws"
_ARNS = {  # resource type -> (service, resource part) of its ARN, named after the logical id
    "AWS::SNS::Topic": ("sns", "{id}"), "AWS::SQS::Queue": ("sqs", "{id}"),
    "AWS::Events::EventBus": ("events", "event-bus/{id}"), "AWS::Events::Rule": ("events", "rule/{id}"),
    "AWS::KMS::Key": ("kms", "key/{id}"), "AWS::Lambda::Function": ("lambda", "function:{id}"),
    "AWS::IAM::Role": ("iam", "role/{id}"), "AWS::DynamoDB::Table": ("dynamodb", "table/{id}"),
    "AWS::ApiGateway::RestApi": ("execute-api", "{id}"),
}


class Resolver:
    """Resolves CloudFormation intrinsics of one template to strings."""

    def __init__(self, template: dict, account: str = ACCOUNT, region: str = REGION) -> None:
        self.resources = template["Resources"]
        self.pseudo = {"AWS::AccountId": account, "AWS::Region": region, "AWS::Partition": PARTITION,
                       "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "MTurkDecisions"}
        self.account, self.region = account, region

    def arn(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        service, resource = _ARNS[kind]
        account = "" if service == "iam" else self.account
        region = "" if service == "iam" else self.region
        return f"arn:{PARTITION}:{service}:{region}:{account}:{resource.format(id=logical_id)}"

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            ref = value["Ref"]
            if ref in self.pseudo:
                return self.pseudo[ref]
            kind = self.resources[ref]["Type"]
            return self.arn(ref) if kind == "AWS::SNS::Topic" else ref
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            return self.arn(logical_id) if attribute == "Arn" else f"{logical_id}.{attribute}"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self(part)) for part in parts)
        return {key: self(v) for key, v in value.items()}


@dataclass
class Request:
    action: str
    resource: str
    #: {"Service": "cloudwatch.amazonaws.com"} or {"AWS": "arn:aws:iam::...:role/x"}
    principal: dict[str, str]
    context: dict[str, Any] = field(default_factory=dict)
    #: Whether the caller's own identity policy allows the action (same-account access).
    identity_allows: bool = False


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _principal_matches(statement: dict, principal: dict[str, str]) -> bool:
    given = statement.get("Principal")
    if given == "*" or given == {"AWS": "*"}:
        return True
    for kind, values in (given or {}).items():
        for value in _as_list(values):
            if kind == "Service" and principal.get("Service") == value:
                return True
            if kind == "AWS" and "AWS" in principal:
                caller = principal["AWS"]
                account = re.match(r"arn:[^:]+:iam::(\d{12}):root$", value)
                if value == caller or (account and f"::{account.group(1)}:" in caller) or value == caller.split(":")[4]:
                    return True
    return False


_OPERATORS = {
    "StringEquals": lambda a, b: a == b, "StringNotEquals": lambda a, b: a != b,
    "StringLike": _matches, "StringNotLike": lambda a, b: not _matches(a, b),
    "ArnEquals": lambda a, b: a == b, "ArnNotEquals": lambda a, b: a != b,
    "ArnLike": _matches, "ArnNotLike": lambda a, b: not _matches(a, b),
    "Bool": lambda a, b: str(a).lower() == str(b).lower(),
}


def _condition_holds(conditions: dict, context: dict[str, Any]) -> bool:
    for operator, pairs in (conditions or {}).items():
        if operator not in _OPERATORS:
            raise ValueError(f"condition operator {operator} is not modelled by tests/iam_eval.py")
        negated = "Not" in operator
        for key, expected in pairs.items():
            if key not in context:
                if not negated:
                    return False
                continue  # a negated operator holds when the key is absent
            actual = context[key]
            values = _as_list(expected)
            holds = all(_OPERATORS[operator](v, actual) for v in values) if negated else \
                any(_OPERATORS[operator](v, actual) for v in values)
            if not holds:
                return False
    return True


def _applies(statement: dict, request: Request) -> bool:
    if "Principal" in statement and not _principal_matches(statement, request.principal):
        return False
    if not any(_matches(a, request.action) for a in _as_list(statement.get("Action", []))):
        return False
    if not any(_matches(r, request.resource) for r in _as_list(statement.get("Resource", "*"))):
        return False
    return _condition_holds(statement.get("Condition", {}), request.context)


def evaluate(policies: list[dict], request: Request) -> str:
    """"Allow", "ExplicitDeny" or "ImplicitDeny" for `request` under resource `policies` (resolved)."""
    statements = [s for policy in policies for s in _as_list(policy.get("Statement", []))]
    applicable = [s for s in statements if _applies(s, request)]
    if any(s["Effect"] == "Deny" for s in applicable):
        return "ExplicitDeny"
    if any(s["Effect"] == "Allow" for s in applicable) or request.identity_allows:
        return "Allow"
    return "ImplicitDeny"


def resource_policies(template: dict, resolver: Resolver, target_logical_id: str) -> list[dict]:
    """Every resource policy the template attaches to `target_logical_id` (topic, queue, key, bus, API)."""
    found = []
    for resource in template["Resources"].values():
        props, kind = resource.get("Properties", {}), resource["Type"]
        if (kind == "AWS::SNS::TopicPolicy" and {"Ref": target_logical_id} in props.get("Topics", [])) or (kind == "AWS::SQS::QueuePolicy" and {"Ref": target_logical_id} in props.get("Queues", [])):
            found.append(props["PolicyDocument"])
        elif kind == "AWS::Events::EventBusPolicy" and props.get("EventBusName") == {"Ref": target_logical_id}:
            found.append({"Statement": [props["Statement"]]} if "Statement" in props else props.get("Policy", {}))
    target = template["Resources"][target_logical_id]
    for key in ("KeyPolicy", "Policy"):
        if key in target.get("Properties", {}):
            found.append(target["Properties"][key])
    return [resolver(policy) for policy in found]
