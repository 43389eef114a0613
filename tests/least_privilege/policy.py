"""Least privilege, evaluated: each recorded AWS call of a function, authorized against the synthesized
policies of that function's role with IAM's semantics. Pure Python, no AWS.

The pieces, in the order `analyse` uses them:

- `LocalLinks`: which template resource each local resource is. The stable link is the environment the
  template gives each function (`AUDIT_TABLE_NAME: {"Ref": "AuditStoreAuditTable…"}`), which the offline
  stack fills with its own names; a function's event source mapping links its queue to the queue the
  local trigger polls for that function.
- `TemplateModel`: the template's resources as concrete ARNs (region us-east-1, account 000000000000, as
  the offline stack's names), the identity statements of each function's role (`AWS::IAM::Policy` and
  `AWS::IAM::ManagedPolicy` attached to it, the role's inline policies; an AWS-managed policy ARN cannot be
  evaluated and is reported), and the resource policies (queue, key, secret, bus, table) whose explicit
  Deny also applies.
- `requests_for`: a recorded call → the IAM authorization requests it makes (action, resource ARN, request
  context): per item for TransactWriteItems, the index ARN for a Query on an index, `sqs:SendMessage` for
  SendMessageBatch, the secret's full ARN for a GetSecretValue by name, the bus's ARN per PutEvents entry;
  and the KMS requests a service makes for the caller under a customer-managed key (`kms:ViaService`).
- `evaluate`: explicit Deny (identity or resource policy) wins; else an identity Allow is needed. `*` and
  `?` wildcards in actions (case-insensitive) and resources; conditions on the keys this model knows are
  evaluated, any other condition is treated conservatively (an Allow does not apply, a Deny does) and
  reported.
- `unexercised`: the (action × resource) pairs of each Allow statement that no allowed request used; pairs
  whose action cannot apply to that resource type (PutItem on an index) are inert, and counted apart.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

REGION = "us-east-1"
ACCOUNT = "000000000000"
PARTITION = "aws"
PSEUDO_PARAMETERS = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": PARTITION,
                     "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": None}
#: Condition keys whose value (or absence) this model knows for every request it builds. A condition on
#: any other key cannot be evaluated: it is treated conservatively and reported.
MODELED_KEYS = frozenset({
    "aws:securetransport", "aws:principalaccount", "aws:principalarn", "aws:requestedregion",
    "aws:sourcearn", "aws:sourceaccount",  # absent: the function calls directly, not a service for it
    "kms:viaservice", "kms:calleraccount",
    "events:source", "events:detail-type",
})
#: SQS batch operations are authorized as their single-message action.
SQS_BATCH_ACTIONS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                     "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}
#: TransactWriteItems / TransactGetItems: each item is authorized as its own action on its table.
TRANSACT_ITEM_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                         "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
#: DynamoDB actions that may act on an index (the others name a table only).
DYNAMODB_INDEX_ACTIONS = frozenset({"dynamodb:query", "dynamodb:scan"})
#: The KMS actions a service calls for the caller on a customer-managed key, per (service, action).
#: DynamoDB decrypts the table key for each principal that reads or writes the table; Secrets Manager
#: decrypts the secret's data key; SQS generates (send) and decrypts (receive) data keys.
KMS_FOR_CALLER = {
    ("dynamodb", "*"): ("kms:Decrypt",),
    ("secretsmanager", "GetSecretValue"): ("kms:Decrypt",),
    ("sqs", "SendMessage"): ("kms:GenerateDataKey", "kms:Decrypt"),
    ("sqs", "ReceiveMessage"): ("kms:Decrypt",),
    # S3 under SSE-KMS: a PUT needs a data key generated for the caller, a GET its decryption.
    ("s3", "PutObject"): ("kms:GenerateDataKey",),
    ("s3", "GetObject"): ("kms:Decrypt",),
}
_HASH_SUFFIX = re.compile(r"[0-9A-F]{8}$")


class Unresolvable(Exception):
    """A template value this model cannot resolve to a string (reported, never guessed)."""


# ---- wildcards and conditions -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters (`/` and `:` included), `?` one character."""
    return bool(_pattern(pattern, ignore_case).match(value))


def action_matches(pattern: str, action: str) -> bool:
    return matches(pattern, action, ignore_case=True)


@dataclass
class ConditionResult:
    holds: bool | None  # None: cannot be evaluated
    unevaluable: list[str] = field(default_factory=list)


def _values(value: Any) -> list[str]:
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in (value if isinstance(value, list) else [value])]


def _compare(base: str, wanted: str, actual: str) -> bool | None:
    if base in ("StringEquals", "ArnEquals"):
        return actual == wanted
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == wanted.lower()
    if base in ("StringLike", "ArnLike"):
        return matches(wanted, actual)
    if base == "Bool":
        return actual.lower() == wanted.lower()
    if base.startswith("Numeric"):
        try:
            a, w = float(actual), float(wanted)
        except ValueError:
            return None
        return {"NumericEquals": a == w, "NumericLessThan": a < w, "NumericLessThanEquals": a <= w,
                "NumericGreaterThan": a > w, "NumericGreaterThanEquals": a >= w}.get(base)
    return None


_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
            "NumericNotEquals": "NumericEquals"}


def _one_condition(operator: str, key: str, wanted: list[str], context: Mapping[str, Any]) -> bool | None:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base[: -len("IfExists")] if if_exists else base
    lowered = {k.lower(): v for k, v in context.items()}
    if key.lower() not in MODELED_KEYS and key.lower() not in lowered:
        return None
    present = key.lower() in lowered
    if base == "Null":  # "true": the key must be absent
        return any((w.lower() == "true") != present for w in wanted)
    negated = base in _NEGATED
    if not present:  # IAM: a missing key matches nothing, so only a negated (or ...IfExists) test holds
        return negated or if_exists or qualifier == "ForAllValues"
    actual = _values(lowered[key.lower()])
    positive = _NEGATED.get(base, base)

    def one(value: str) -> bool | None:
        results = [_compare(positive, w, value) for w in wanted]
        if None in results:
            return None
        return any(results)

    results = [one(value) for value in actual]
    if None in results:
        return None
    if qualifier == "ForAllValues":
        hit = all(results)
    else:  # ForAnyValue, or a single-valued key
        hit = any(results)
    return (not hit) if negated else hit


def evaluate_conditions(conditions: Mapping[str, Mapping[str, Any]] | None,
                        context: Mapping[str, Any]) -> ConditionResult:
    """Every operator and key must hold (any of a key's values). None when one cannot be evaluated."""
    result = ConditionResult(True)
    for operator, block in (conditions or {}).items():
        for key, wanted in block.items():
            holds = _one_condition(operator, key, _values(wanted), context)
            if holds is None:
                result.unevaluable.append(f"{operator} {key} {json.dumps(wanted)}")
                result.holds = None if result.holds is not False else False
            elif not holds:
                result.holds = False
    return result


# ---- statements and requests ------------------------------------------------------------------------


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


@dataclass(frozen=True)
class Statement:
    source: str  # the policy's logical id (and the statement's position)
    effect: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    conditions: Any = None  # resolved condition block (a dict), or None
    principal: Any = None  # resource policies only

    def covers(self, action: str, resource: str) -> bool:
        if self.actions and not any(action_matches(p, action) for p in self.actions):
            return False
        if self.not_actions and any(action_matches(p, action) for p in self.not_actions):
            return False
        if self.resources and not any(matches(p, resource) for p in self.resources):
            return False
        if self.not_resources and any(matches(p, resource) for p in self.not_resources):
            return False
        return True

    def describe(self) -> str:
        actions = ",".join(self.actions) or f"NotAction {','.join(self.not_actions)}"
        return f"{self.source} {self.effect} {actions}"


@dataclass(frozen=True)
class Request:
    """One IAM authorization request."""

    action: str  # e.g. dynamodb:PutItem
    resource: str  # an ARN (or "*")
    context: tuple[tuple[str, Any], ...]
    call: int  # index of the recorded call it comes from
    via: str | None = None  # for a KMS request a service makes for the caller: the call that causes it

    @property
    def context_map(self) -> dict[str, Any]:
        return dict(self.context)


@dataclass
class Decision:
    request: Request
    allowed: bool
    allowed_by: list[int]  # indexes of the role's statements whose Allow applied
    denied_by: list[str]
    unevaluable: list[str]

    @property
    def why(self) -> str:
        if self.denied_by:
            return "explicit Deny: " + "; ".join(self.denied_by)
        if not self.allowed:
            return "no Allow statement of the role covers it" + (
                f" (conditions not evaluable: {'; '.join(self.unevaluable)})" if self.unevaluable else "")
        return "allowed"


def principal_matches(principal: Any, role_arn: str) -> bool | None:
    """Does a resource policy's Principal name this role (directly, by its account, or everyone)?"""
    if principal in ("*", {"AWS": "*"}):
        return True
    if not isinstance(principal, dict):
        return None
    names = as_list(principal.get("AWS", []))
    account_root = f"arn:{PARTITION}:iam::{ACCOUNT}:root"
    return any(name in ("*", ACCOUNT, account_root, role_arn) for name in names)


def evaluate(request: Request, identity: list[Statement], resource_policy: list[Statement], role_arn: str) -> Decision:
    context = request.context_map
    allowed_by, denied_by, unevaluable = [], [], []
    for index, statement in enumerate(identity):
        if not statement.covers(request.action, request.resource):
            continue
        condition = evaluate_conditions(statement.conditions, context)
        unevaluable += condition.unevaluable
        if statement.effect == "Deny" and condition.holds is not False:
            denied_by.append(statement.describe())
        elif statement.effect == "Allow" and condition.holds is True:
            allowed_by.append(index)
    for statement in resource_policy:
        if statement.effect != "Deny" or not statement.covers(request.action, request.resource):
            continue
        if principal_matches(statement.principal, role_arn) is False:
            continue
        condition = evaluate_conditions(statement.conditions, context)
        unevaluable += condition.unevaluable
        if condition.holds is not False:
            denied_by.append(statement.describe())
    return Decision(request, bool(allowed_by) and not denied_by, allowed_by, denied_by, unevaluable)


# ---- the template, resolved to local ARNs ------------------------------------------------------------


def label_of(logical_id: str) -> str:
    """A logical id without CDK's hash suffix: stable while the construct path stays the same."""
    return _HASH_SUFFIX.sub("", logical_id)


def queue_name(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class Resource:
    logical_id: str
    type: str
    name: str  # the local name (table, queue, secret, bus), or a symbolic one without a local counterpart
    arn: str
    ref: str
    kms_key: str | None = None  # logical id of the customer-managed key it is encrypted with
    linked: bool = False  # the name is the offline stack's

    @property
    def label(self) -> str:
        return label_of(self.logical_id)

    def attribute(self, name: str) -> str:
        if name == "Arn":
            return self.arn
        if name in ("QueueName", "Name", "TableName"):
            return self.name
        if name in ("QueueUrl", "KeyId", "Id"):
            return self.ref
        raise Unresolvable(f"Fn::GetAtt {self.logical_id}.{name}")


@dataclass(frozen=True)
class FunctionRole:
    function: str  # the local function's name
    logical_id: str  # the function's
    role_id: str
    role_arn: str
    env: Mapping[str, Any]  # the template's environment for the function
    statements: tuple[Statement, ...]
    unevaluated: tuple[str, ...] = ()  # policies this model cannot read (AWS-managed ARNs)


class TemplateModel:
    """The template's resources as local ARNs, the roles' statements and the resource policies."""

    def __init__(self, template: Mapping[str, Any], links: Mapping[str, str],
                 secret_arns: Mapping[str, str] | None = None,
                 handler_names: Mapping[str, str] | None = None) -> None:
        self.template = template
        self.resources_json: dict[str, Any] = template["Resources"]
        self.links = dict(links)
        self.secret_arns = dict(secret_arns or {})
        self.resources = {logical_id: self._resource(logical_id, spec)
                          for logical_id, spec in self.resources_json.items()}
        self.by_arn = {resource.arn: resource for resource in self.resources.values()}
        self.roles = self._roles(handler_names or {})
        self.resource_policies = self._resource_policies()

    # -- resources

    def _resource(self, logical_id: str, spec: Mapping[str, Any]) -> Resource:
        kind, props = spec["Type"], spec.get("Properties", {})
        linked = logical_id in self.links
        local = self.links.get(logical_id)
        prefix = f"arn:{PARTITION}"
        if kind == "AWS::DynamoDB::Table":
            name = local or props.get("TableName") or logical_id
            sse = props.get("SSESpecification") or {}
            key = self._key_id(sse.get("KMSMasterKeyId")) if sse.get("SSEEnabled") else None
            return Resource(logical_id, kind, name, f"{prefix}:dynamodb:{REGION}:{ACCOUNT}:table/{name}", name, key,
                            linked)
        if kind == "AWS::SQS::Queue":
            name = queue_name(local) if local else props.get("QueueName") or logical_id
            url = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            return Resource(logical_id, kind, name, f"{prefix}:sqs:{REGION}:{ACCOUNT}:{name}", url,
                            self._key_id(props.get("KmsMasterKeyId")), linked)
        if kind == "AWS::SecretsManager::Secret":
            name = local or props.get("Name") or logical_id
            arn = self.secret_arn(name)
            return Resource(logical_id, kind, name, arn, arn, self._key_id(props.get("KmsKeyId")), linked)
        if kind == "AWS::Events::EventBus":
            name = local or props.get("Name") or logical_id
            return Resource(logical_id, kind, name, f"{prefix}:events:{REGION}:{ACCOUNT}:event-bus/{name}", name,
                            self._key_id(props.get("KmsKeyIdentifier")), linked)
        if kind == "AWS::S3::Bucket":
            name = local or (props["BucketName"] if isinstance(props.get("BucketName"), str) else logical_id)
            sse = ((props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration") or [{}])[0]
            key = self._key_id((sse.get("ServerSideEncryptionByDefault") or {}).get("KMSMasterKeyID"))
            return Resource(logical_id, kind, name, f"{prefix}:s3:::{name}", name, key, linked)
        if kind == "AWS::KMS::Key":
            return Resource(logical_id, kind, logical_id, f"{prefix}:kms:{REGION}:{ACCOUNT}:key/{logical_id}",
                            logical_id)
        if kind == "AWS::Logs::LogGroup":
            name = props.get("LogGroupName") if isinstance(props.get("LogGroupName"), str) else logical_id
            return Resource(logical_id, kind, name, f"{prefix}:logs:{REGION}:{ACCOUNT}:log-group:{name}:*", name)
        if kind == "AWS::IAM::Role":
            return Resource(logical_id, kind, logical_id, f"{prefix}:iam::{ACCOUNT}:role/{logical_id}", logical_id)
        service = kind.split("::")[1].lower() if kind.count("::") == 2 else "cloudformation"
        return Resource(logical_id, kind, logical_id, f"{prefix}:{service}:{REGION}:{ACCOUNT}:{logical_id}", logical_id)

    def _key_id(self, value: Any) -> str | None:
        """The logical id of a template key a property names (a Ref or Fn::GetAtt); None for an AWS key."""
        if isinstance(value, dict):
            target = value.get("Ref") or (value.get("Fn::GetAtt") or [None])[0]
            if target in self.resources_json and self.resources_json[target]["Type"] == "AWS::KMS::Key":
                return target
        return None

    def secret_arn(self, name_or_arn: str) -> str:
        """What Secrets Manager authorizes a secret by: its full ARN (name + 6 random characters)."""
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        partial = f"arn:{PARTITION}:secretsmanager:{REGION}:{ACCOUNT}:secret:{name_or_arn}"
        return self.secret_arns.get(name_or_arn) or partial  # a partial ARN matches no grant: denied

    def resolve(self, value: Any) -> Any:
        """A template value with its intrinsic functions resolved (strings or lists of strings)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        (function, argument), = value.items()
        if function == "Ref":
            if argument in PSEUDO_PARAMETERS:
                return PSEUDO_PARAMETERS[argument]
            if argument in self.resources:
                return self.resources[argument].ref
            raise Unresolvable(f"Ref {argument}")
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            if logical_id not in self.resources:
                raise Unresolvable(f"Fn::GetAtt {argument}")
            return self.resources[logical_id].attribute(attribute)
        if function == "Fn::Join":
            separator, parts = argument
            return separator.join(str(self.resolve(part)) for part in parts)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            def substitute(match: re.Match) -> str:
                name = match.group(1)
                if name in variables:
                    return str(self.resolve(variables[name]))
                if "." in name:
                    return str(self.resolve({"Fn::GetAtt": name.split(".", 1)}))
                return str(self.resolve({"Ref": name}))
            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        if function == "Fn::Select":
            index, items = argument
            return self.resolve(items)[int(index)]
        if function == "Fn::Split":
            separator, text = argument
            return str(self.resolve(text)).split(separator)
        if function.startswith("Fn::") or function == "Condition":
            raise Unresolvable(f"{function} {json.dumps(argument)[:80]}")
        return {function: self.resolve(argument)}

    def label(self, arn: str) -> str:
        """The stable label of a granted or requested ARN (a resource, an index of one, or `*`)."""
        if arn == "*":
            return "*"
        if arn in self.by_arn:
            return self.by_arn[arn].label
        table, marker, index = arn.partition("/index/")
        if marker and table in self.by_arn:
            return f"{self.by_arn[table].label}/index/{index}"
        bucket, marker, key = arn.partition("/")
        if marker and bucket.startswith(f"arn:{PARTITION}:s3:::") and bucket in self.by_arn:
            return f"{self.by_arn[bucket].label}/{key}"
        return arn

    # -- policies

    def _statements(self, source: str, document: Mapping[str, Any]) -> list[Statement]:
        statements = []
        for position, raw in enumerate(as_list(document.get("Statement", []))):
            def strings(key: str, raw: Mapping[str, Any] = raw) -> tuple[str, ...]:
                if key not in raw:
                    return ()
                try:
                    return tuple(str(v) for v in as_list(self.resolve(raw[key])))
                except Unresolvable as error:  # matches nothing: an Allow is lost, never invented
                    return (f"<unresolvable: {error}>",)
            try:
                conditions = self.resolve(raw.get("Condition")) if raw.get("Condition") else None
            except Unresolvable as error:
                conditions = {"Unresolvable": {str(error): "?"}}
            try:  # NotPrincipal: everyone but some, taken as everyone (a Deny applies, an Allow never counts)
                principal = "*" if "NotPrincipal" in raw else self.resolve(raw.get("Principal"))
            except Unresolvable:
                principal = None
            statements.append(Statement(
                source=f"{source}#{raw.get('Sid') or position}", effect=raw["Effect"],
                actions=strings("Action"), not_actions=strings("NotAction"),
                resources=strings("Resource"), not_resources=strings("NotResource"),
                conditions=conditions, principal=principal,
            ))
        return statements

    def _roles(self, handler_names: Mapping[str, str]) -> dict[str, FunctionRole]:
        roles = {}
        for logical_id, spec in self.resources_json.items():
            if spec["Type"] != "AWS::Lambda::Function":
                continue
            props = spec["Properties"]
            handler = props.get("Handler", "")
            module, _, function = handler.rpartition(".")
            name = handler_names.get(f"{module}:{function}", logical_id)
            role_id = props["Role"]["Fn::GetAtt"][0]
            role_ref = {"Ref": role_id}
            statements, unevaluated = [], []
            for policy_id, policy in self.resources_json.items():
                policy_props = policy.get("Properties", {})
                if policy["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and \
                        role_ref in policy_props.get("Roles", []):
                    statements += self._statements(policy_id, policy_props["PolicyDocument"])
            role_props = self.resources_json[role_id].get("Properties", {})
            for inline in role_props.get("Policies", []):
                statements += self._statements(f"{role_id}/{inline.get('PolicyName')}", inline["PolicyDocument"])
            for managed in role_props.get("ManagedPolicyArns", []):
                reference = managed.get("Ref") if isinstance(managed, dict) else None
                if reference in self.resources_json:
                    continue  # a template managed policy: read above through its Roles
                unevaluated.append(json.dumps(managed))
            env = props.get("Environment", {}).get("Variables", {})
            roles[name] = FunctionRole(name, logical_id, role_id, self.resources[role_id].arn, env,
                                       tuple(statements), tuple(unevaluated))
        return roles

    def _resource_policies(self) -> dict[str, list[Statement]]:
        """Resource ARN → the statements of its resource policy (queue, key, secret, bus, table)."""
        found: dict[str, list[Statement]] = {}
        for logical_id, spec in self.resources_json.items():
            props = spec.get("Properties", {})
            kind = spec["Type"]
            targets, document = [], None
            if kind == "AWS::SQS::QueuePolicy":
                targets, document = [q.get("Ref") for q in props.get("Queues", [])], props.get("PolicyDocument")
            elif kind == "AWS::KMS::Key":
                targets, document = [logical_id], props.get("KeyPolicy")
            elif kind == "AWS::SecretsManager::ResourcePolicy":
                targets, document = [props.get("SecretId", {}).get("Ref")], props.get("ResourcePolicy")
            elif kind == "AWS::Events::EventBusPolicy":
                try:
                    bus = self.resolve(props.get("EventBusName", "default"))
                except Unresolvable:
                    bus = None
                targets = [r for r, s in self.resources_json.items() if s["Type"] == "AWS::Events::EventBus"
                           and bus in (self.resources[r].name, self.resources[r].arn)]
                document = {"Statement": [props["Statement"]]} if props.get("Statement") else None
            elif kind == "AWS::Events::EventBus" and props.get("Policy"):
                targets, document = [logical_id], props["Policy"]
            elif kind == "AWS::S3::BucketPolicy":
                targets, document = [(props.get("Bucket") or {}).get("Ref")], props.get("PolicyDocument")
            elif kind == "AWS::DynamoDB::Table" and props.get("ResourcePolicy"):
                targets, document = [logical_id], props["ResourcePolicy"].get("PolicyDocument")
            for target in targets:
                if target in self.resources and document:
                    resource = self.resources[target]
                    statements = self._statements(logical_id, document)
                    if kind == "AWS::KMS::Key":  # in a key policy, "*" is the key itself
                        statements = [Statement(s.source, s.effect, s.actions, s.not_actions,
                                                tuple(resource.arn if r == "*" else r for r in s.resources),
                                                s.not_resources, s.conditions, s.principal) for s in statements]
                    found.setdefault(resource.arn, []).extend(statements)
        return found

    def resource_policy_for(self, arn: str) -> list[Statement]:
        """The policy of the resource: a table's for its indexes too, a bucket's for its objects."""
        container = arn.partition("/index/")[0] if "/index/" in arn else container_of(arn)
        return self.resource_policies.get(arn, []) + (
            self.resource_policies.get(container, []) if container != arn else [])

    def key_policy_allows(self, key_arn: str, action: str, role_arn: str, context: Mapping[str, Any]) -> bool:
        """A KMS key is usable only if its key policy allows the caller, directly or by delegating to IAM
        (an Allow for the account's root)."""
        for statement in self.resource_policies.get(key_arn, []):
            if statement.effect == "Allow" and statement.covers(action, key_arn) and \
                    principal_matches(statement.principal, role_arn) and \
                    evaluate_conditions(statement.conditions, context).holds is True:
                return True
        return False


# ---- recorded calls → authorization requests ----------------------------------------------------------


def base_context(role_arn: str, region: str | None) -> dict[str, Any]:
    return {"aws:SecureTransport": "true", "aws:PrincipalAccount": ACCOUNT, "aws:PrincipalArn": role_arn,
            "aws:RequestedRegion": region or REGION}


def _frozen(context: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in context.items()))


def requests_for(call: Mapping[str, Any], index: int, model: TemplateModel, role_arn: str) -> list[Request]:
    """The IAM requests one recorded call makes, with the KMS requests a service makes for the caller."""
    service, operation, params = call["service"], call["operation"], call.get("params", {})
    region = call.get("region") or REGION
    context = base_context(role_arn, region)
    direct: list[tuple[str, str, dict]] = []  # (action, resource arn, extra context)
    arn = f"arn:{PARTITION}"
    if service == "dynamodb":
        def table_arn(name: str) -> str:
            return name if name.startswith("arn:") else f"{arn}:dynamodb:{region}:{ACCOUNT}:table/{name}"
        if "TransactItems" in params:
            for kind, table in params["TransactItems"]:
                direct.append((f"dynamodb:{TRANSACT_ITEM_ACTIONS.get(kind, kind)}", table_arn(table), {}))
        elif "RequestItems" in params:
            for table in params["RequestItems"]:
                direct.append((f"dynamodb:{operation}", table_arn(table), {}))
        elif "TableName" in params:
            resource = table_arn(params["TableName"])
            if params.get("IndexName"):
                resource += f"/index/{params['IndexName']}"
            direct.append((f"dynamodb:{operation}", resource, {}))
        else:
            direct.append((f"dynamodb:{operation}", "*", {}))
    elif service == "sqs":
        name = queue_name(params["QueueUrl"]) if "QueueUrl" in params else params.get("QueueName")
        resource = f"{arn}:sqs:{region}:{ACCOUNT}:{name}" if name else "*"
        direct.append((f"sqs:{SQS_BATCH_ACTIONS.get(operation, operation)}", resource, {}))
    elif service == "secretsmanager":
        resource = model.secret_arn(params["SecretId"]) if "SecretId" in params else "*"
        direct.append((f"secretsmanager:{operation}", resource, {}))
    elif service == "events" and operation == "PutEvents":
        for entry in params.get("Entries", []):
            bus = entry.get("EventBusName") or "default"
            resource = bus if bus.startswith("arn:") else f"{arn}:events:{region}:{ACCOUNT}:event-bus/{bus}"
            extra = {"events:source": entry.get("Source"), "events:detail-type": entry.get("DetailType")}
            direct.append(("events:PutEvents", resource, {k: v for k, v in extra.items() if v is not None}))
    elif service == "s3" and "Bucket" in params:
        resource = f"{arn}:s3:::{params['Bucket']}" + (f"/{params['Key']}" if "Key" in params else "")
        direct.append((f"s3:{operation}", resource, {}))
    elif service == "kms":
        key = params.get("KeyId", "*")
        direct.append((f"kms:{operation}", key if key.startswith("arn:") or key == "*" else
                       f"{arn}:kms:{region}:{ACCOUNT}:key/{key}", {}))
    else:
        named = next((params[k] for k in ("ResourceArn", "TopicArn", "StateMachineArn") if k in params), "*")
        direct.append((f"{service}:{operation}", named, {}))

    requests = []
    for action, resource, extra in direct:
        requests.append(Request(action, resource, _frozen({**context, **extra}), index))
        for kms_action, key_arn in kms_requests(service, action, resource, model):
            via = {**context, "kms:ViaService": f"{service}.{region}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
            requests.append(Request(kms_action, key_arn, _frozen(via), index,
                                    via=f"{action} on {model.label(resource)}"))
    return requests


def container_of(arn: str) -> str:
    """The bucket of an S3 object's ARN (`arn:aws:s3:::bucket/key`); any other ARN as it is."""
    return arn.partition("/")[0] if arn.startswith(f"arn:{PARTITION}:s3:::") else arn


def kms_requests(service: str, action: str, resource: str, model: TemplateModel) -> list[tuple[str, str]]:
    """The KMS requests `service` makes for the caller when `action` acts on a resource under a CMK."""
    operation = action.split(":", 1)[1]
    needs = KMS_FOR_CALLER.get((service, operation)) or KMS_FOR_CALLER.get((service, "*"))
    target = model.by_arn.get(resource.partition("/index/")[0]) or model.by_arn.get(container_of(resource))
    if not needs or target is None or target.kms_key is None:
        return []
    return [(kms_action, model.resources[target.kms_key].arn) for kms_action in needs]


# ---- the analysis ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One (action × resource) pair of an Allow statement of a role."""

    function: str
    statement: int
    action: str
    resource: str  # resolved ARN pattern
    label: str
    conditional: bool

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.function, self.action, self.label)


def grants_of(role: FunctionRole, model: TemplateModel) -> list[Grant]:
    pairs = []
    for index, statement in enumerate(role.statements):
        if statement.effect != "Allow":
            continue
        actions = statement.actions or (f"NotAction[{','.join(statement.not_actions)}]",)
        resources = statement.resources or (f"NotResource[{','.join(statement.not_resources)}]",)
        for action in actions:
            for resource in resources:
                pairs.append(Grant(role.function, index, action, resource, model.label(resource),
                                   bool(statement.conditions)))
    return pairs


def inert(grant: Grant) -> bool:
    """A pair no request can ever use: a DynamoDB item or batch action on an index ARN."""
    return "/index/" in grant.resource and grant.action.lower().startswith("dynamodb:") and \
        "*" not in grant.action and grant.action.lower() not in DYNAMODB_INDEX_ACTIONS


@dataclass
class FunctionReport:
    function: str
    calls: list[dict]
    decisions: list[Decision]
    grants: list[Grant]
    exercised: set[Grant]
    unevaluated_policies: tuple[str, ...]
    key_policy_refusals: list[Decision]

    @property
    def denied(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    @property
    def kms_decisions(self) -> list[Decision]:
        return [d for d in self.decisions if d.request.via]

    @property
    def inert_grants(self) -> list[Grant]:
        return [g for g in self.grants if inert(g)]

    @property
    def unexercised(self) -> list[Grant]:
        return [g for g in self.grants if g not in self.exercised and not inert(g)]

    @property
    def unevaluable_conditions(self) -> set[str]:
        return {u for d in self.decisions for u in d.unevaluable}


def analyse_function(role: FunctionRole, calls: list[dict], model: TemplateModel) -> FunctionReport:
    decisions, refusals = [], []
    grants = grants_of(role, model)
    exercised: set[Grant] = set()
    for index, call in enumerate(calls):
        for request in requests_for(call, index, model, role.role_arn):
            decision = evaluate(request, list(role.statements), model.resource_policy_for(request.resource),
                                role.role_arn)
            if request.via and decision.allowed and not model.key_policy_allows(
                    request.resource, request.action, role.role_arn, request.context_map):
                decision.allowed = False
                decision.denied_by.append("the key policy allows neither this role nor IAM policies of the account")
                refusals.append(decision)
            decisions.append(decision)
            if decision.allowed:
                for grant in grants:
                    if grant.statement in decision.allowed_by and action_matches(grant.action, request.action) \
                            and matches(grant.resource, request.resource):
                        exercised.add(grant)
    return FunctionReport(role.function, calls, decisions, grants, exercised, role.unevaluated, refusals)


def local_links(template: Mapping[str, Any], stack_env: Mapping[str, str], handler_names: Mapping[str, str],
                trigger_queues: Mapping[str, str]) -> dict[str, str]:
    """Template logical id → the offline stack's name for that resource, by the environment variables the
    template gives each function (and the local stack fills), and by each function's event source mapping
    (`trigger_queues`: local function name → the stack variable naming the queue its trigger polls)."""
    links: dict[str, str] = {}
    conflicts = []

    def link(logical_id: str, value: str, why: str) -> None:
        if links.setdefault(logical_id, value) != value:
            conflicts.append(f"{logical_id}: {links[logical_id]} and {value} ({why})")

    resources = template["Resources"]
    names_by_function = {}
    for logical_id, spec in resources.items():
        if spec["Type"] != "AWS::Lambda::Function":
            continue
        module, _, function = spec["Properties"].get("Handler", "").rpartition(".")
        name = handler_names.get(f"{module}:{function}")
        names_by_function[logical_id] = name
        for variable, value in spec["Properties"].get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and "Ref" in value and value["Ref"] in resources and variable in stack_env:
                link(value["Ref"], stack_env[variable], f"{name} {variable}")
    for spec in resources.values():
        if spec["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = spec["Properties"]
        name = names_by_function.get((props.get("FunctionName") or {}).get("Ref"))
        source = (props.get("EventSourceArn") or {}).get("Fn::GetAtt", [None])[0]
        variable = trigger_queues.get(name or "")
        if source and variable and variable in stack_env:
            link(source, stack_env[variable], f"{name}'s event source")
    if conflicts:
        raise ValueError("one template resource linked to two local resources: " + "; ".join(conflicts))
    return links


def function_environment(role: FunctionRole, stack_env: Mapping[str, str],
                         keep: Iterable[str] = ("MTURK_ENDPOINT",)) -> dict[str, str]:
    """What a function's local environment changes so that it is configured as the template configures it:
    a stack variable the template does not give the function is emptied (an unconfigured resource), and
    the template's literal settings are used (but `keep`: the simulator's endpoint)."""
    changes = {variable: "" for variable in stack_env if variable not in role.env and variable not in keep}
    for variable, value in role.env.items():
        if isinstance(value, str) and variable not in keep:
            changes[variable] = value
    return changes
