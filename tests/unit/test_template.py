"""template.yaml grants least privilege, wires the S3 trigger to the handler's settings, and fails loudly.

Each rule is a `check_*` function that returns the problems it finds; the table at the end mutates the
template in memory to prove every check can fail.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from staticsync.operations.prune import RETIRED_TAG, SCHEDULED

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "SyncFunction"
NO_VALUE = {"Ref": "AWS::NoValue"}
S3_ARN = re.compile(r"arn:\$\{AWS::Partition\}:s3:::(?P<bucket>[^/]+)(?P<path>/.*)?")
LIVE_ACTIONS = {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListBucket", "s3:DeleteObject"}
ARTIFACT_ACTIONS = {"s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"}
REPORT_ACTIONS = {"s3:GetObject", "s3:PutObject"}
BROAD_S3_POLICY_TEMPLATES = {"S3ReadPolicy", "S3WritePolicy", "S3CrudPolicy", "S3FullAccessPolicy"}

Template = dict[str, Any]
Problems = list[str]


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags (!Ref, !Sub, !GetAtt...) as their long form."""


def _construct_short_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in {"Ref", "Condition"} else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_short_tag)


def load_template(path: Path = ROOT / "template.yaml") -> Template:
    return yaml.load(path.read_text(), Loader=CfnLoader)


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


# ---------------------------------------------------------------- reading the template


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def function(template: Template) -> dict[str, Any]:
    return template["Resources"][FUNCTION]["Properties"]


def function_setting(template: Template, name: str) -> Any:
    """A function property, falling back to Globals as SAM does."""
    return function(template).get(name, template.get("Globals", {}).get("Function", {}).get(name))


def environment(template: Template) -> dict[str, Any]:
    """The function's environment variables, Globals merged under its own as SAM does."""
    merged: dict[str, Any] = {}
    for props in (template.get("Globals", {}).get("Function", {}), function(template)):
        merged.update(props.get("Environment", {}).get("Variables", {}))
    return merged


def branches(value: Any) -> Iterator[Any]:
    """The values an `Fn::If` may take (without AWS::NoValue), or the value itself."""
    if isinstance(value, dict) and "Fn::If" in value:
        for branch in value["Fn::If"][1:]:
            yield from branches(branch)
    elif value != NO_VALUE:
        yield value


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for entry in as_list(document.get("Statement", [])):
        yield from branches(entry)


def function_statements(template: Template) -> Iterator[dict[str, Any]]:
    for policy in function(template).get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            yield from statements(policy)


def all_allow_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Allow statement anywhere: the function's policies, IAM resources, bucket policies."""
    found = [(FUNCTION, s) for s in function_statements(template)]
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            found += [(name, s) for p in props.get("Policies", []) for s in statements(p["PolicyDocument"])]
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy"}:
            found += [(name, s) for s in statements(props["PolicyDocument"])]
    return iter([(where, s) for where, s in found if s.get("Effect") == "Allow"])


def sub_parts(value: Any) -> tuple[str, dict[str, Any]] | None:
    """A resource ARN as (text, variables), when it is a plain string or an Fn::Sub."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    return None


def s3_grants(template: Template) -> Iterator[tuple[set[str], Any, str | None]]:
    """(actions, bucket name expression, object path or None) for each S3 ARN the function is granted."""
    for statement in function_statements(template):
        if statement.get("Effect") != "Allow":
            continue
        actions = set(as_list(statement["Action"]))
        if not any(action.lower().startswith("s3:") or action == "*" for action in actions):
            continue
        for resource in as_list(statement["Resource"]):
            parts = sub_parts(resource)
            match = S3_ARN.fullmatch(parts[0]) if parts else None
            if parts is None or match is None:
                yield actions, resource, None
                continue
            text, variables = parts
            bucket = match["bucket"]
            variable = re.fullmatch(r"\$\{(\w+)\}", bucket)
            if variable and variable[1] in variables:
                bucket = variables[variable[1]]
            yield actions, bucket, match["path"]


def prefix_path(env_value: Any) -> str:
    """The object path a prefix env var set from a parameter allows: `/${Param}*`."""
    assert isinstance(env_value, dict) and "Ref" in env_value, f"{env_value!r} is not a !Ref"
    return f"/${{{env_value['Ref']}}}*"


def artifacts_bucket_name(template: Template) -> Any:
    return template["Resources"]["ArtifactsBucket"]["Properties"]["BucketName"]


def notifications(template: Template) -> list[dict[str, Any]]:
    """The artifacts bucket's Lambda notifications."""
    props = template["Resources"]["ArtifactsBucket"]["Properties"]
    return list(props.get("NotificationConfiguration", {}).get("LambdaConfigurations", []))


def live_objects(template: Template, path: str) -> dict[str, Any]:
    """The ARN of `path` in the live bucket, as the function's policy writes it."""
    bucket = environment(template)["LIVE_BUCKET"]
    return {
        "Fn::Sub": [f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/${{LivePrefix}}{path}", {"Bucket": bucket}]
    }


def csp_directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: [values]}."""
    parts = [part.split() for part in policy.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def mentions(value: Any, name: str) -> bool:
    """Whether a value refers to the resource `name` (Ref, GetAtt or inside a Sub string)."""
    if isinstance(value, dict):
        if value.get("Ref") == name or value.get("Fn::GetAtt", [None])[0] == name:
            return True
        return any(mentions(v, name) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, name) for v in value)
    return isinstance(value, str) and re.search(rf"\$\{{{name}[.}}]", value) is not None


# ---------------------------------------------------------------- the checks


def check_s3_grants(template: Template) -> Problems:
    problems = []
    for where, statement in all_allow_statements(template):
        actions = as_list(statement.get("Action", []))
        s3_actions = [a for a in actions if a == "*" or a.lower().startswith("s3:")]
        for action in s3_actions:
            if "*" in action:
                problems.append(f"{where}: wildcard S3 action {action}")
            if "delete" in action.lower() and not (
                where == FUNCTION and is_scoped_prune(template, statement)
            ):
                problems.append(f"{where}: grants {action}; only PruneLiveFiles deletes, on the live prefix")
        writes = [a for a in s3_actions if not a.lower().startswith(("s3:get", "s3:list"))]
        if writes and "*" in as_list(statement.get("Resource")):
            problems.append(f'{where}: {writes} on Resource "*"')
    for policy in function(template).get("Policies", []):
        names = set(policy) if isinstance(policy, dict) else {policy}
        for name in names & BROAD_S3_POLICY_TEMPLATES:
            problems.append(f"{FUNCTION}: {name} grants the whole bucket")
        problems += [f"{FUNCTION}: managed policy {n}" for n in names if "S3" in n and "Policy" not in n]
    return problems


def is_scoped_prune(template: Template, statement: dict[str, Any]) -> bool:
    """The one delete grant: s3:DeleteObject alone, on the live prefix alone, the deployer's keys denied."""
    denied = [
        d
        for d in function_statements(template)
        if d.get("Effect") == "Deny"
        and as_list(d.get("Action")) == ["s3:DeleteObject"]
        and "Condition" not in d
    ]
    resources = [r for d in denied for r in as_list(d["Resource"])]
    return (
        statement.get("Sid") == "PruneLiveFiles"
        and as_list(statement.get("Action")) == ["s3:DeleteObject"]
        and as_list(statement.get("Resource")) == [live_objects(template, "*")]
        and all(live_objects(template, path) in resources for path in ("staticfiles.json", ".releases/*"))
    )


def artifacts_listing_problems(template: Template) -> Problems:
    """Listing the artifacts bucket (the prune step's sweep) only under the staging prefix."""
    name, problems = artifacts_bucket_name(template), []
    wanted = {"StringLike": {"s3:prefix": {"Fn::Sub": "${StagingPrefix}*"}}}
    for statement in function_statements(template):
        if statement.get("Effect") != "Allow" or "s3:ListBucket" not in as_list(statement["Action"]):
            continue
        for resource in as_list(statement["Resource"]):
            parts = sub_parts(resource)
            if parts and parts[1].get("Bucket") == name and statement.get("Condition") != wanted:
                problems.append(
                    f"{statement.get('Sid')}: lists the artifacts bucket beyond the staging prefix"
                )
    return problems


def check_no_reference_to_the_triggering_bucket(template: Template) -> Problems:
    # The bucket's notification depends on the function; the function's policy naming the bucket
    # resource closes the loop (CloudFormation: circular dependency).
    if mentions(function(template).get("Policies", []), "ArtifactsBucket"):
        return ["the function's policies refer to ArtifactsBucket: name it with !Sub instead"]
    return []


def check_artifacts_read_is_scoped_to_the_staging_prefix(template: Template) -> Problems:
    problems = []
    name = artifacts_bucket_name(template)
    staged = prefix_path(environment(template)["STAGING_PREFIX"])
    grants = [(actions, path) for actions, bucket, path in s3_grants(template) if bucket == name]
    if not any("s3:GetObject" in actions for actions, _ in grants):
        problems.append("no s3:GetObject on the artifacts bucket")
    reports = f"/{environment(template).get('REPORT_PREFIX')}*"
    for actions, path in grants:
        if path is None and actions == {"s3:ListBucket"}:
            continue  # the prune step's sweep: artifacts_listing_problems
        if path == reports and actions <= REPORT_ACTIONS:
            continue  # the report objects (staticsync/outbox.py): test_reports_are_written_only_under_...
        if path != staged:
            problems.append(f"artifacts grant on {path!r}, not {staged!r}")
        if actions - ARTIFACT_ACTIONS:
            problems.append(f"artifacts grant has {sorted(actions - ARTIFACT_ACTIONS)}")
    return problems + artifacts_listing_problems(template)


def check_live_writes_are_scoped_to_the_live_prefix(template: Template) -> Problems:
    problems = []
    env = environment(template)
    live, artifacts = env["LIVE_BUCKET"], artifacts_bucket_name(template)
    prefix = prefix_path(env["LIVE_PREFIX"])
    granted: set[str] = set()
    for actions, bucket, path in s3_grants(template):
        if bucket == artifacts:
            continue
        if bucket != live:
            problems.append(f"grant on a bucket that is neither artifacts nor live: {bucket!r}")
            continue
        granted |= actions
        if path is None and actions != {"s3:ListBucket"}:
            problems.append(f"bucket-level grant of {sorted(actions)} on the live bucket")
        if path is not None and path != prefix:
            problems.append(f"live grant on {path!r}, not {prefix!r}")
        if path is not None and "s3:ListBucket" in actions:
            problems.append("s3:ListBucket granted on objects (it applies to the bucket ARN)")
    if granted - LIVE_ACTIONS:
        problems.append(f"live grant has {sorted(granted - LIVE_ACTIONS)}")
    if not {"s3:PutObject", "s3:GetObject", "s3:ListBucket"} <= granted:
        problems.append(f"the handler needs GetObject, PutObject and ListBucket, got {sorted(granted)}")
    return problems


def check_event_filter_matches_the_staging_prefix(template: Template) -> Problems:
    problems = []
    staging = environment(template).get("STAGING_PREFIX")
    suffixes = []
    for config in notifications(template):
        rules = {r["Name"]: r["Value"] for r in config["Filter"]["S3Key"]["Rules"]}
        if rules.get("prefix") != staging:
            problems.append(
                f"event prefix {rules.get('prefix')!r} is not the STAGING_PREFIX the handler gets"
            )
        suffixes.append(rules.get("suffix"))
        if config.get("Function") != {"Fn::GetAtt": [FUNCTION, "Arn"]}:
            problems.append(f"a notification invokes {config.get('Function')!r}, not {FUNCTION}")
        if not config.get("Event", "").startswith("s3:ObjectCreated:"):
            problems.append("an event does not fire on ObjectCreated")
    if sorted(map(str, suffixes)) != [".json", ".zip"]:
        problems.append(f"event suffixes {suffixes!r}: want .zip (artifacts) and .json (rollback requests)")
    if any(e["Type"] == "S3" for e in function(template).get("Events", {}).values()):
        problems.append("a SAM S3 event: its Lambda permission has no SourceArn")
    return problems


def check_only_the_artifacts_bucket_may_invoke(template: Template) -> Problems:
    permissions = resources(template, "AWS::Lambda::Permission")
    mine = {
        n: p["Properties"]
        for n, p in permissions.items()
        if p["Properties"].get("FunctionName") == {"Ref": FUNCTION}
    }
    if not mine:
        return ["no AWS::Lambda::Permission for the function"]
    problems = []
    bucket_arn = {
        "Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}", {"Bucket": artifacts_bucket_name(template)}]
    }
    for name, props in mine.items():
        if props.get("Principal") != "s3.amazonaws.com":
            problems.append(f"{name}: principal {props.get('Principal')!r}")
        if props.get("SourceArn") != bucket_arn:
            problems.append(f"{name}: SourceArn {props.get('SourceArn')!r} is not the artifacts bucket")
        if props.get("SourceAccount") != {"Ref": "AWS::AccountId"}:
            problems.append(f"{name}: no SourceAccount")
    depends = as_list(template["Resources"]["ArtifactsBucket"].get("DependsOn", []))
    if not set(mine) <= set(depends):
        problems.append("ArtifactsBucket does not depend on the permission its notification needs")
    return problems


def check_deployer_keys_are_written_conditionally(template: Template) -> Problems:
    """Deny statements: .releases/* only with If-None-Match, staticfiles.json only with one of the two."""
    wanted = {
        ".releases/*": {"s3:if-none-match": "true"},
        "staticfiles.json": {"s3:if-match": "true", "s3:if-none-match": "true"},
    }
    problems = []
    if environment(template).get("HISTORY_PREFIX") != ".releases/":
        problems.append("HISTORY_PREFIX is not the .releases/ the deny statement names")
    denies = [s for s in function_statements(template) if s.get("Effect") == "Deny"]
    for path, null in wanted.items():
        found = [
            d
            for d in denies
            if "s3:PutObject" in as_list(d.get("Action"))
            and live_objects(template, path) in as_list(d["Resource"])
        ]
        if not any(d.get("Condition") == {"Null": null} for d in found):
            problems.append(f"no Deny of s3:PutObject on {path} when {sorted(null)} are all absent")
    return problems


def check_handler_environment(template: Template) -> Problems:
    env = environment(template)
    required = ["LIVE_BUCKET", "STAGING_PREFIX", "LIVE_PREFIX", "ARTIFACTS_BUCKET"]
    required += ["POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"]
    problems = [f"{name} is not set" for name in required if env.get(name) in (None, "")]
    if env.get("ARTIFACTS_BUCKET") not in (None, artifacts_bucket_name(template)):
        problems.append("ARTIFACTS_BUCKET is not the artifacts bucket's name")
    powertools = template["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    problems += [
        f"{n} is not in Globals" for n in required if n.startswith("POWERTOOLS_") and n not in powertools
    ]
    return problems


def check_deploys_are_serialised(template: Template) -> Problems:
    reserved = function(template).get("ReservedConcurrentExecutions")
    return [] if reserved == 1 else [f"ReservedConcurrentExecutions is {reserved!r}, not 1"]


def check_failed_deploys_reach_a_queue(template: Template) -> Problems:
    config = function(template).get("EventInvokeConfig")
    if config is None:
        configs = list(resources(template, "AWS::Lambda::EventInvokeConfig").values())
        config = configs[0]["Properties"] if configs else None
    if config is None:
        return ["no EventInvokeConfig"]
    problems = []
    retries = config.get("MaximumRetryAttempts")
    if not isinstance(retries, int) or retries > 2:
        problems.append(f"MaximumRetryAttempts is {retries!r}, not a number <= 2")
    on_failure = config.get("DestinationConfig", {}).get("OnFailure", {})
    target = on_failure.get("Destination", {}).get("Fn::GetAtt", [None])[0]
    queue = resources(template, "AWS::SQS::Queue").get(target)
    if on_failure.get("Type") != "SQS" or queue is None:
        problems.append(f"OnFailure is not a queue of this template: {on_failure!r}")
    elif "MessageRetentionPeriod" not in queue.get("Properties", {}):
        problems.append(f"{target} has no MessageRetentionPeriod")
    return problems


def check_log_group_has_retention(template: Template) -> Problems:
    ref = function(template).get("LoggingConfig", {}).get("LogGroup")
    name = ref.get("Ref", "") if isinstance(ref, dict) else ""
    group = resources(template, "AWS::Logs::LogGroup").get(name)
    if group is None:
        return ["LoggingConfig.LogGroup does not name a log group of this template"]
    return [] if group["Properties"].get("RetentionInDays") else ["the log group keeps logs forever"]


def check_alarms(template: Template) -> Problems:
    env = environment(template)
    timeout_ms = function_setting(template, "Timeout") * 1000
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]

    def dims(alarm: dict[str, Any]) -> dict[str, Any]:
        return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}

    wanted: dict[str, Callable[[dict[str, Any]], bool]] = {
        "function errors": lambda a: (
            (a["Namespace"], a["MetricName"]) == ("AWS/Lambda", "Errors")
            and dims(a) == {"FunctionName": {"Ref": FUNCTION}}
        ),
        "failure queue depth": lambda a: (
            a["MetricName"] == "ApproximateNumberOfMessagesVisible"
            and dims(a) == {"QueueName": {"Fn::GetAtt": ["FailureQueue", "QueueName"]}}
        ),
        "duration near the timeout": lambda a: (
            a["MetricName"] == "Duration"
            and dims(a) == {"FunctionName": {"Ref": FUNCTION}}
            and timeout_ms / 2 <= a["Threshold"] < timeout_ms
        ),
        "artifacts rejected": lambda a: (
            a["MetricName"] == "ArtifactsRejected"
            and a["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
            and dims(a) == {"service": env["POWERTOOLS_SERVICE_NAME"]}
        ),
    }
    problems = [f"no alarm on {what}" for what, test in wanted.items() if not any(map(test, alarms))]
    for alarm in alarms:
        if alarm.get("AlarmActions") != {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], NO_VALUE]}:
            problems.append(f"alarm on {alarm['MetricName']} does not notify AlarmTopic")
    return problems


def check_cdn_response_headers(template: Template) -> Problems:
    behavior = template["Resources"]["CdnDistribution"]["Properties"]["DistributionConfig"][
        "DefaultCacheBehavior"
    ]
    policies = resources(template, "AWS::CloudFront::ResponseHeadersPolicy")
    name = behavior.get("ResponseHeadersPolicyId", {})
    name = name.get("Ref") if isinstance(name, dict) else None
    if name not in policies:
        return [f"the distribution's response headers policy is not one of this template: {name!r}"]
    config = policies[name]["Properties"]["ResponseHeadersPolicyConfig"]
    security = config.get("SecurityHeadersConfig", {})
    problems = [
        f"{header} is not set over the origin's"
        for header, value in security.items()
        if not value.get("Override")
    ]
    problems += [
        f"no {header}"
        for header in (
            "ContentTypeOptions",
            "StrictTransportSecurity",
            "ContentSecurityPolicy",
            "ReferrerPolicy",
        )
        if header not in security
    ]
    if security.get("StrictTransportSecurity", {}).get("AccessControlMaxAgeSec", 0) < 31536000:
        problems.append("HSTS max-age is under a year")
    if security.get("ReferrerPolicy", {}).get("ReferrerPolicy") not in (
        "no-referrer",
        "same-origin",
        "strict-origin",
    ):
        problems.append("the Referrer-Policy sends the path of static URLs to other origins")
    csp = csp_directives(security.get("ContentSecurityPolicy", {}).get("ContentSecurityPolicy", ""))
    if csp.get("default-src") != ["'none'"]:
        problems.append(f"CSP default-src is {csp.get('default-src')!r}, not 'none'")
    if "sandbox" not in csp or "allow-scripts" in csp["sandbox"]:
        problems.append("CSP has no sandbox without allow-scripts")
    if any(d in csp for d in ("script-src", "script-src-elem", "connect-src", "worker-src", "object-src")):
        problems.append("CSP allows script, connections, workers or plugins")
    if any("'unsafe-eval'" in v or "*" in v for v in csp.values()):
        problems.append("CSP has 'unsafe-eval' or a wildcard source")
    return problems


# ---------------------------------------------------------------- sharded deploys (docs/scale.md)

MACHINE = "DeployStateMachine"
SHARD_FUNCTION = "ShardFunction"
MACHINE_ARN = (
    "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-deploy"
)
SYNC_TASKS = ("Plan", "Finish", "ReportFailure")
THROTTLED = "Lambda.TooManyRequestsException"


def resource_statements(template: Template, name: str) -> list[dict[str, Any]]:
    props = template["Resources"][name]["Properties"]
    return [s for p in props.get("Policies", []) if isinstance(p, dict) for s in statements(p)]


def definition_of(template: Template) -> dict[str, Any]:
    uri = template["Resources"][MACHINE]["Properties"]["DefinitionUri"]
    document: dict[str, Any] = json.loads((ROOT / uri).read_text())
    return document


def check_the_state_machine_is_wired_to_the_two_functions(template: Template) -> Problems:
    props = template["Resources"].get(MACHINE, {}).get("Properties")
    if props is None:
        return [f"no {MACHINE}"]
    problems = (
        [] if props.get("Type") == "STANDARD" else [f"{MACHINE} is {props.get('Type')!r}, not STANDARD"]
    )
    wanted = {
        "SyncFunctionArn": {"Fn::GetAtt": [FUNCTION, "Arn"]},
        "ShardFunctionArn": {"Fn::GetAtt": [SHARD_FUNCTION, "Arn"]},
    }
    if props.get("DefinitionSubstitutions") != wanted:
        problems.append(f"DefinitionSubstitutions {props.get('DefinitionSubstitutions')!r}")
    if props.get("Name") != {"Fn::Sub": "${AWS::StackName}-deploy"}:
        problems.append("the state machine's name is not the one STATE_MACHINE_ARN is built from")
    if environment(template).get("STATE_MACHINE_ARN") != {"Fn::Sub": MACHINE_ARN}:
        problems.append("STATE_MACHINE_ARN is not this stack's state machine")
    env = environment(template)
    for name, parameter in (
        ("SHARD_THRESHOLD_FILES", "ShardThresholdFiles"),
        ("SHARD_FILES", "ShardFiles"),
        ("SHARD_MAX_CONCURRENCY", "ShardMaxConcurrency"),
    ):
        if env.get(name) != {"Ref": parameter}:
            problems.append(f"{name} is not the {parameter} parameter")
    shard = template["Resources"].get(SHARD_FUNCTION, {}).get("Properties", {})
    if (shard.get("CodeUri"), shard.get("Handler")) != ("lambda_fn/", "shard_app.lambda_handler"):
        problems.append(f"{SHARD_FUNCTION} does not run lambda_fn/shard_app.py")
    return problems


def check_the_state_machine_invokes_its_functions_and_reads_its_lists_only(template: Template) -> Problems:
    problems = []
    functions = [{"Fn::GetAtt": [FUNCTION, "Arn"]}, {"Fn::GetAtt": [SHARD_FUNCTION, "Arn"]}]
    lists = "arn:${AWS::Partition}:s3:::${Bucket}/${LivePrefix}.releases/*/shards/*"
    props = template["Resources"][MACHINE]["Properties"]
    problems += [
        f"{MACHINE}: policy template {p!r}" for p in props.get("Policies", []) if not isinstance(p, dict)
    ]
    for statement in resource_statements(template, MACHINE):
        actions, where = set(as_list(statement.get("Action"))), as_list(statement.get("Resource"))
        if statement.get("Effect") != "Allow":
            continue
        if actions == {"lambda:InvokeFunction"}:
            if where != functions:
                problems.append(f"{MACHINE} invokes {where!r}")
        elif actions == {"s3:GetObject"}:
            if [(sub_parts(r) or (r, {}))[0] for r in where] != [lists]:
                problems.append(f"{MACHINE} reads {where!r}, not only the shard lists")
        elif all(a.startswith("states:") for a in actions) and "*" not in "".join(actions):
            own = MACHINE_ARN.split(":stateMachine:")[1]
            if not all(isinstance(r, dict) and own in str(r.get("Fn::Sub")) for r in where):
                problems.append(f"{MACHINE}: {sorted(actions)} on {where!r}")
        else:
            problems.append(f"{MACHINE} is granted {sorted(actions)}")
    return problems


def check_the_sync_function_starts_only_its_state_machine(template: Template) -> Problems:
    problems = []
    for statement in function_statements(template):
        actions = [a for a in as_list(statement.get("Action")) if a.startswith("states:") or a == "*"]
        if actions and (
            actions != ["states:StartExecution"] or statement["Resource"] != {"Fn::Sub": MACHINE_ARN}
        ):
            problems.append(f"{FUNCTION}: {actions} on {statement['Resource']!r}")
    if not any("states:StartExecution" in as_list(s.get("Action")) for s in function_statements(template)):
        problems.append(f"{FUNCTION} may not start the state machine")
    return problems


def check_the_shard_function_writes_files_and_its_markers_only(template: Template) -> Problems:
    problems = []
    found = resource_statements(template, SHARD_FUNCTION)
    live = environment(template)["LIVE_BUCKET"]
    for statement in [s for s in found if s.get("Effect") == "Allow"]:
        actions = set(as_list(statement.get("Action")))
        if any("delete" in a.lower() or "*" in a for a in actions):
            problems.append(f"{SHARD_FUNCTION} is granted {sorted(actions)}")
        for resource in as_list(statement.get("Resource")):
            text = (sub_parts(resource) or ("", {}))[0]
            if not text.endswith(("${StagingPrefix}*", "${LivePrefix}*", ":::${Bucket}")):
                problems.append(f"{SHARD_FUNCTION}: {sorted(actions)} on {text!r}")
    denies = [s for s in found if s.get("Effect") == "Deny" and "s3:PutObject" in as_list(s.get("Action"))]
    for path, condition in (
        ("staticfiles.json", None),
        (".releases/*", {"Null": {"s3:if-none-match": "true"}}),
    ):
        target = {
            "Fn::Sub": [f"arn:${{AWS::Partition}}:s3:::${{Bucket}}/${{LivePrefix}}{path}", {"Bucket": live}]
        }
        if not any(d["Resource"] == target and d.get("Condition") == condition for d in denies):
            problems.append(f"{SHARD_FUNCTION}: no Deny of s3:PutObject on {path} ({condition})")
    return problems


def check_sharded_alarms(template: Template) -> Problems:
    alarms = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()]
    problems = []
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
        if not any(
            (a.get("Namespace"), a.get("MetricName")) == ("AWS/States", metric)
            and a.get("Dimensions") == [{"Name": "StateMachineArn", "Value": {"Ref": MACHINE}}]
            for a in alarms
        ):
            problems.append(f"no alarm on the state machine's {metric}")
    return problems


CHECKS = [
    check_s3_grants,
    check_no_reference_to_the_triggering_bucket,
    check_artifacts_read_is_scoped_to_the_staging_prefix,
    check_live_writes_are_scoped_to_the_live_prefix,
    check_event_filter_matches_the_staging_prefix,
    check_only_the_artifacts_bucket_may_invoke,
    check_deployer_keys_are_written_conditionally,
    check_cdn_response_headers,
    check_handler_environment,
    check_deploys_are_serialised,
    check_failed_deploys_reach_a_queue,
    check_log_group_has_retention,
    check_alarms,
    check_the_state_machine_is_wired_to_the_two_functions,
    check_the_state_machine_invokes_its_functions_and_reads_its_lists_only,
    check_the_sync_function_starts_only_its_state_machine,
    check_the_shard_function_writes_files_and_its_markers_only,
    check_sharded_alarms,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_the_template_passes(check: Callable[[Template], Problems], template: Template) -> None:
    assert check(template) == []


# ---------------------------------------------------------------- each check can fail


def _statement(template: Template, sid: str) -> dict[str, Any]:
    [found] = [s for s in function_statements(template) if s.get("Sid") == sid]
    return found


def _set(path: str, value: Any) -> Callable[[Template], None]:
    def mutate(template: Template) -> None:
        *parents, last = path.split(".")
        node = template
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


def _grant(sid: str, **changes: Any) -> Callable[[Template], None]:
    return lambda template: _statement(template, sid).update(changes)


def _add_policy(policy: Any) -> Callable[[Template], None]:
    return lambda template: function(template)["Policies"].append(policy)


def _cdn_allow(template: Template) -> dict[str, Any]:
    policy = template["Resources"]["LiveBucketPolicy"]["Properties"]["PolicyDocument"]
    [allow] = [s for s in statements(policy) if s["Effect"] == "Allow"]
    return allow


def _objects(bucket: Any) -> dict[str, Any]:
    """Every object of a bucket, as an ARN."""
    return {"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/*", {"Bucket": bucket}]}


FN = f"Resources.{FUNCTION}.Properties"
HEADERS = "Resources.CdnResponseHeaders.Properties.ResponseHeadersPolicyConfig.SecurityHeadersConfig"


def _notification_list(template: Template) -> list[dict[str, Any]]:
    configs: list[dict[str, Any]] = template["Resources"]["ArtifactsBucket"]["Properties"][
        "NotificationConfiguration"
    ]["LambdaConfigurations"]
    return configs


def _rules(index: int, rules: list[dict[str, Any]]) -> Callable[[Template], None]:
    return lambda template: _notification_list(template)[index]["Filter"]["S3Key"].update(Rules=rules)


def _policy_statements(template: Template) -> list[dict[str, Any]]:
    [policy] = [p for p in function(template)["Policies"] if isinstance(p, dict) and "Statement" in p]
    found: list[dict[str, Any]] = policy["Statement"]
    return found


def _behavior(key: str, value: Any) -> Callable[[Template], None]:
    return _set(f"Resources.CdnDistribution.Properties.DistributionConfig.DefaultCacheBehavior.{key}", value)


def _headers(header: str, value: Any) -> Callable[[Template], None]:
    return _set(f"{HEADERS}.{header}", value)


def _csp(policy: str) -> Callable[[Template], None]:
    return _headers("ContentSecurityPolicy", {"ContentSecurityPolicy": policy, "Override": True})


MUTATIONS = [
    ("s3-star", _grant("SyncLiveFiles", Action=["s3:*"]), check_s3_grants),
    ("put-star", _grant("SyncLiveFiles", Action="s3:Put*"), check_s3_grants),
    ("write-on-any-resource", _grant("SyncLiveFiles", Resource="*"), check_s3_grants),
    ("delete", _grant("SyncLiveFiles", Action=["s3:PutObject", "s3:DeleteObject"]), check_s3_grants),
    (
        "delete-whole-live-bucket",
        lambda t: _statement(t, "PruneLiveFiles").update(Resource=_objects(environment(t)["LIVE_BUCKET"])),
        check_s3_grants,
    ),
    ("delete-star", _grant("PruneLiveFiles", Action="s3:Delete*"), check_s3_grants),
    (
        "delete-deployer-keys",
        lambda t: _policy_statements(t).remove(_statement(t, "NeverDeleteDeployerKeys")),
        check_s3_grants,
    ),
    (
        "delete-artifacts",
        _grant("ReadStagedArtifacts", Action=["s3:GetObject", "s3:DeleteObject"]),
        check_s3_grants,
    ),
    (
        "list-whole-artifacts-bucket",
        lambda t: _statement(t, "ListStagedObjects").pop("Condition"),
        check_artifacts_read_is_scoped_to_the_staging_prefix,
    ),
    ("crud-template", _add_policy({"S3CrudPolicy": {"BucketName": "x"}}), check_s3_grants),
    ("full-access", _add_policy("AmazonS3FullAccess"), check_s3_grants),
    ("cdn-reads-all", lambda t: _cdn_allow(t).update(Action="s3:*"), check_s3_grants),
    (
        "ref-to-bucket",
        _grant("ReadStagedArtifacts", Resource={"Fn::Sub": "${ArtifactsBucket.Arn}/staging/*"}),
        check_no_reference_to_the_triggering_bucket,
    ),
    (
        "whole-artifacts-bucket",
        lambda t: _statement(t, "ReadStagedArtifacts").update(Resource=_objects(artifacts_bucket_name(t))),
        check_artifacts_read_is_scoped_to_the_staging_prefix,
    ),
    (
        "artifacts-put",
        _grant("ReadStagedArtifacts", Action=["s3:GetObject", "s3:PutObject"]),
        check_artifacts_read_is_scoped_to_the_staging_prefix,
    ),
    (
        "whole-live-bucket",
        lambda t: _statement(t, "SyncLiveFiles").update(Resource=_objects(environment(t)["LIVE_BUCKET"])),
        check_live_writes_are_scoped_to_the_live_prefix,
    ),
    (
        "other-bucket",
        _grant("SyncLiveFiles", Resource="arn:${AWS::Partition}:s3:::elsewhere/${LivePrefix}*"),
        check_live_writes_are_scoped_to_the_live_prefix,
    ),
    (
        "live-tagging",
        _grant("SyncLiveFiles", Action=["s3:GetObject", "s3:PutObject", "s3:PutObjectAcl"]),
        check_live_writes_are_scoped_to_the_live_prefix,
    ),
    (
        "no-list",
        _grant("ListLiveBucket", Action="s3:GetObject"),
        check_live_writes_are_scoped_to_the_live_prefix,
    ),
    (
        "prefix-drift",
        _rules(0, [{"Name": "prefix", "Value": "staging/"}, {"Name": "suffix", "Value": ".zip"}]),
        check_event_filter_matches_the_staging_prefix,
    ),
    (
        "no-suffix",
        _rules(0, [{"Name": "prefix", "Value": {"Ref": "StagingPrefix"}}]),
        check_event_filter_matches_the_staging_prefix,
    ),
    (
        "no-rollback-trigger",
        lambda t: _notification_list(t).pop(1),
        check_event_filter_matches_the_staging_prefix,
    ),
    (
        "sam-s3-event",
        _set(
            f"{FN}.Events", {"Staged": {"Type": "S3", "Properties": {"Bucket": {"Ref": "ArtifactsBucket"}}}}
        ),
        check_event_filter_matches_the_staging_prefix,
    ),
    (
        "no-source-arn",
        _set("Resources.SyncInvokePermission.Properties.SourceArn", None),
        check_only_the_artifacts_bucket_may_invoke,
    ),
    (
        "no-source-account",
        _set("Resources.SyncInvokePermission.Properties.SourceAccount", None),
        check_only_the_artifacts_bucket_may_invoke,
    ),
    (
        "other-source-bucket",
        _set(
            "Resources.SyncInvokePermission.Properties.SourceArn", {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}
        ),
        check_only_the_artifacts_bucket_may_invoke,
    ),
    (
        "no-permission",
        _set("Resources.SyncInvokePermission", None),
        check_only_the_artifacts_bucket_may_invoke,
    ),
    (
        "bucket-first",
        _set("Resources.ArtifactsBucket.DependsOn", None),
        check_only_the_artifacts_bucket_may_invoke,
    ),
    (
        "history-unconditional",
        _grant("HistoryOnlyIfAbsent", Condition={"Null": {"s3:if-match": "true"}}),
        check_deployer_keys_are_written_conditionally,
    ),
    (
        "history-deny-gone",
        lambda t: _policy_statements(t).remove(_statement(t, "HistoryOnlyIfAbsent")),
        check_deployer_keys_are_written_conditionally,
    ),
    (
        "manifest-if-match-only",
        _grant("ManifestOnlyConditional", Condition={"Null": {"s3:if-match": "true"}}),
        check_deployer_keys_are_written_conditionally,
    ),
    (
        "manifest-deny-elsewhere",
        lambda t: _statement(t, "ManifestOnlyConditional").update(Resource=live_objects(t, "other.json")),
        check_deployer_keys_are_written_conditionally,
    ),
    (
        "history-prefix-drift",
        _set(f"{FN}.Environment.Variables.HISTORY_PREFIX", "releases/"),
        check_deployer_keys_are_written_conditionally,
    ),
    (
        "managed-cors-only",
        _behavior("ResponseHeadersPolicyId", "60669652-455b-4ae9-85a4-c4c02393f86c"),
        check_cdn_response_headers,
    ),
    ("no-nosniff", _headers("ContentTypeOptions", None), check_cdn_response_headers),
    (
        "short-hsts",
        _headers("StrictTransportSecurity", {"AccessControlMaxAgeSec": 300, "Override": True}),
        check_cdn_response_headers,
    ),
    (
        "csp-allows-scripts",
        _csp("default-src 'none'; script-src 'self'; sandbox allow-scripts"),
        check_cdn_response_headers,
    ),
    ("csp-no-sandbox", _csp("default-src 'none'; style-src 'self'"), check_cdn_response_headers),
    ("csp-default-self", _csp("default-src 'self'; sandbox"), check_cdn_response_headers),
    (
        "csp-not-overriding",
        _headers(
            "ContentSecurityPolicy",
            {"ContentSecurityPolicy": "default-src 'none'; sandbox", "Override": False},
        ),
        check_cdn_response_headers,
    ),
    (
        "leaky-referrer",
        _headers("ReferrerPolicy", {"ReferrerPolicy": "unsafe-url", "Override": True}),
        check_cdn_response_headers,
    ),
    (
        "no-artifacts-bucket-env",
        _set(f"{FN}.Environment.Variables.ARTIFACTS_BUCKET", None),
        check_handler_environment,
    ),
    (
        "other-artifacts-bucket-env",
        _set(f"{FN}.Environment.Variables.ARTIFACTS_BUCKET", "elsewhere"),
        check_handler_environment,
    ),
    ("no-live-bucket", _set(f"{FN}.Environment.Variables.LIVE_BUCKET", None), check_handler_environment),
    ("no-staging-prefix", _set(f"{FN}.Environment.Variables.STAGING_PREFIX", ""), check_handler_environment),
    (
        "powertools-not-global",
        _set("Globals.Function.Environment.Variables.POWERTOOLS_LOG_LEVEL", None),
        check_handler_environment,
    ),
    ("concurrency-2", _set(f"{FN}.ReservedConcurrentExecutions", 2), check_deploys_are_serialised),
    ("unreserved", _set(f"{FN}.ReservedConcurrentExecutions", None), check_deploys_are_serialised),
    (
        "retries-3",
        _set(f"{FN}.EventInvokeConfig.MaximumRetryAttempts", 3),
        check_failed_deploys_reach_a_queue,
    ),
    ("no-invoke-config", _set(f"{FN}.EventInvokeConfig", None), check_failed_deploys_reach_a_queue),
    (
        "sns-destination",
        _set(f"{FN}.EventInvokeConfig.DestinationConfig.OnFailure.Type", "SNS"),
        check_failed_deploys_reach_a_queue,
    ),
    (
        "queue-default-retention",
        _set("Resources.FailureQueue.Properties.MessageRetentionPeriod", None),
        check_failed_deploys_reach_a_queue,
    ),
    (
        "no-retention",
        _set("Resources.SyncLogGroup.Properties.RetentionInDays", None),
        check_log_group_has_retention,
    ),
    ("implicit-log-group", _set(f"{FN}.LoggingConfig", None), check_log_group_has_retention),
    ("no-errors-alarm", _set("Resources.SyncErrorsAlarm", None), check_alarms),
    ("no-queue-alarm", _set("Resources.FailureQueueAlarm", None), check_alarms),
    ("duration-at-timeout", _set("Resources.SyncDurationAlarm.Properties.Threshold", 900000), check_alarms),
    ("no-rejected-alarm", _set("Resources.ArtifactsRejectedAlarm", None), check_alarms),
    (
        "rejected-wrong-namespace",
        _set("Resources.ArtifactsRejectedAlarm.Properties.Namespace", "Other"),
        check_alarms,
    ),
    ("silent-alarm", _set("Resources.SyncErrorsAlarm.Properties.AlarmActions", None), check_alarms),
    (
        "express-machine",
        _set(f"Resources.{MACHINE}.Properties.Type", "EXPRESS"),
        check_the_state_machine_is_wired_to_the_two_functions,
    ),
    (
        "machine-other-name",
        _set(f"Resources.{MACHINE}.Properties.Name", "deploy"),
        check_the_state_machine_is_wired_to_the_two_functions,
    ),
    (
        "no-shard-threshold",
        _set(f"{FN}.Environment.Variables.SHARD_THRESHOLD_FILES", "1"),
        check_the_state_machine_is_wired_to_the_two_functions,
    ),
    (
        "machine-invokes-any-function",
        lambda t: _sharded_statement(t, MACHINE, "InvokeDeploySteps").update(Resource="*"),
        check_the_state_machine_invokes_its_functions_and_reads_its_lists_only,
    ),
    (
        "machine-reads-live-bucket",
        lambda t: _sharded_statement(t, MACHINE, "ReadShardLists").update(
            Resource={"Fn::Sub": ["arn:${AWS::Partition}:s3:::${Bucket}/*", {"Bucket": "x"}]}
        ),
        check_the_state_machine_invokes_its_functions_and_reads_its_lists_only,
    ),
    (
        "machine-writes",
        lambda t: _sharded_statement(t, MACHINE, "ReadShardLists").update(
            Action=["s3:GetObject", "s3:PutObject"]
        ),
        check_the_state_machine_invokes_its_functions_and_reads_its_lists_only,
    ),
    (
        "machine-starts-any",
        lambda t: _sharded_statement(t, MACHINE, "RunMapChildren").update(Resource="*"),
        check_the_state_machine_invokes_its_functions_and_reads_its_lists_only,
    ),
    (
        "sync-starts-any-machine",
        _grant("StartShardedDeploys", Resource="*"),
        check_the_sync_function_starts_only_its_state_machine,
    ),
    (
        "sync-states-star",
        _grant("StartShardedDeploys", Action="states:*"),
        check_the_sync_function_starts_only_its_state_machine,
    ),
    (
        "shard-deletes",
        lambda t: _sharded_statement(t, SHARD_FUNCTION, "UploadShardFiles").update(
            Action=["s3:PutObject", "s3:DeleteObject"]
        ),
        check_the_shard_function_writes_files_and_its_markers_only,
    ),
    (
        "shard-may-write-manifest",
        lambda t: _sharded_statements(t, SHARD_FUNCTION).remove(
            _sharded_statement(t, SHARD_FUNCTION, "NeverWriteManifest")
        ),
        check_the_shard_function_writes_files_and_its_markers_only,
    ),
    (
        "shard-overwrites-markers",
        lambda t: _sharded_statement(t, SHARD_FUNCTION, "MarkersOnlyIfAbsent").pop("Condition"),
        check_the_shard_function_writes_files_and_its_markers_only,
    ),
    ("no-failed-executions-alarm", _set("Resources.ShardedDeployFailedAlarm", None), check_sharded_alarms),
    (
        "no-timed-out-executions-alarm",
        _set("Resources.ShardedDeployTimedOutAlarm", None),
        check_sharded_alarms,
    ),
]


def _sharded_statements(template: Template, name: str) -> list[dict[str, Any]]:
    [policy] = [p for p in template["Resources"][name]["Properties"]["Policies"] if isinstance(p, dict)]
    found: list[dict[str, Any]] = policy["Statement"]
    return found


def _sharded_statement(template: Template, name: str, sid: str) -> dict[str, Any]:
    [found] = [s for s in _sharded_statements(template, name) if s.get("Sid") == sid]
    return found


@pytest.mark.parametrize(("mutate", "check"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_each_check_catches_a_template_that_breaks_its_rule(
    template: Template, mutate: Callable[[Template], None], check: Callable[[Template], Problems]
) -> None:
    broken = copy.deepcopy(template)
    mutate(broken)
    assert check(broken) != []


# ---------------------------------------------------------------- conventions


def test_the_function_follows_the_sam_python_conventions(template: Template) -> None:
    fn = function(template)
    assert (fn["CodeUri"], fn["Handler"]) == ("lambda_fn/", "app.lambda_handler")
    assert (ROOT / "lambda_fn" / "requirements.txt").is_file()
    globals_ = template["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])


def test_tracing_is_off_by_default_and_the_sdk_is_not_imported_unless_it_is_on(template: Template) -> None:
    parameter = template["Parameters"]["Tracing"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("PassThrough", ["Active", "PassThrough"])
    globals_ = template["Globals"]["Function"]
    assert globals_["Tracing"] == {"Ref": "Tracing"}
    assert globals_["Environment"]["Variables"]["POWERTOOLS_TRACE_DISABLED"] == {
        "Fn::If": ["Traced", "false", "true"]
    }
    assert template["Conditions"]["Traced"] == {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]}


@pytest.mark.parametrize("bucket", ["ArtifactsBucket", "LiveBucket"])
def test_buckets_are_private_encrypted_tls_only_and_retained(template: Template, bucket: str) -> None:
    resource = template["Resources"][bucket]
    props = resource["Properties"]
    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    [policy] = [
        p["Properties"]
        for p in resources(template, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    denies = [s for s in statements(policy["PolicyDocument"]) if s["Effect"] == "Deny"]
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_staged_objects_expire_by_release_only_once_the_prune_step_retired_them(template: Template) -> None:
    rules = template["Resources"]["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    [rule] = [r for r in rules if r.get("ExpirationInDays")]
    assert rule["Prefix"] == environment(template)["STAGING_PREFIX"]
    assert rule["TagFilters"] == [{"Key": RETIRED_TAG, "Value": "true"}]
    assert rule["ExpirationInDays"] == {"Ref": "ArtifactRetentionDays"}
    assert any(r.get("AbortIncompleteMultipartUpload") for r in rules)


def test_the_sync_function_prunes_after_cutovers_and_on_an_optional_schedule(template: Template) -> None:
    env = environment(template)
    assert env["RETAIN_RELEASES"] == {"Ref": "RetainReleases"}
    assert env["RETENTION_GRACE_DAYS"] == {"Ref": "RetentionGraceDays"}
    assert (env["PRUNE_MAX_DELETES"], env["PRUNE_AFTER_DEPLOY"]) == ("1000", {"Ref": "PruneAfterDeploy"})
    schedule = function(template)["Events"]["PruneOnSchedule"]
    assert schedule["Type"] == "Schedule" and json.loads(schedule["Properties"]["Input"]) == SCHEDULED
    assert schedule["Properties"]["State"] == {"Fn::If": ["HasPruneSchedule", "ENABLED", "DISABLED"]}
    assert template["Parameters"]["PruneSchedule"]["Default"] == "rate(1 day)"
    assert template["Parameters"]["PruneAfterDeploy"]["Default"] == "false"


def test_bucket_names_are_built_from_parameters(template: Template) -> None:
    for name in (
        artifacts_bucket_name(template),
        template["Resources"]["LiveBucket"]["Properties"]["BucketName"],
    ):
        assert not mentions(name, "ArtifactsBucket") and not mentions(name, "LiveBucket")
        assert "${AWS::StackName}" in str(name)


def test_cloudfront_reads_the_live_bucket_only_from_its_own_distribution(template: Template) -> None:
    allow = _cdn_allow(template)
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "${CdnDistribution}" in allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert template["Resources"]["CdnDistribution"]["Condition"] == "CreateCdn"


def test_outputs_give_ci_what_it_needs(template: Template) -> None:
    outputs = template["Outputs"]
    for name in (
        "ArtifactsBucketName",
        "LiveBucketName",
        "SyncFunctionName",
        "SyncFunctionArn",
        "SyncLogGroupName",
        "FailureQueueUrl",
        "PackageCommand",
    ):
        assert name in outputs
    assert outputs["PackageCommand"]["Value"] == {
        "Fn::Sub": "build_tool package --settings <your.settings>"
        " --bucket ${ArtifactsBucket} --prefix ${StagingPrefix}"
    }


# ---------------------------------------------------------------- samconfig.toml and the README


def parameter_overrides(text: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)=\\?"([^"\\]*)\\?"', text))


def test_samconfig_has_the_canonical_shape_and_known_parameters(template: Template) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    for env in ("default", "prod"):
        stack = config[env]["global"]["parameters"]["stack_name"]
        assert re.fullmatch(r"[a-z][a-z0-9-]{0,39}", stack), "bucket names are built from the stack name"
        assert config[env]["build"]["parameters"] == {"cached": True, "parallel": True}
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["confirm_changeset"] is True and deploy["resolve_s3"] is True
        assert set(parameter_overrides(deploy["parameter_overrides"])) <= set(template["Parameters"])


def test_the_deploy_doc_names_only_real_parameters_and_outputs(template: Template) -> None:
    doc = (ROOT / "docs" / "aws.md").read_text()
    overrides = {name for name, _ in re.findall(r"\b([A-Z]\w+)=(\\?\"|')", doc)}
    assert overrides <= set(template["Parameters"])
    outputs = set(re.findall(r"OutputKey=='(\w+)'", doc))
    assert outputs and outputs <= set(template["Outputs"])
    for name in [*template["Parameters"], *template["Outputs"]]:
        assert f"`{name}`" in doc, f"docs/aws.md does not mention {name}"


# ---------------------------------------------------------------- docs/deploy.md


def json_blocks(text: str) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", text, re.DOTALL)]


def test_every_doc_the_template_cites_exists() -> None:
    cited = set(re.findall(r"docs/[\w.-]+\.md", (ROOT / "template.yaml").read_text()))
    assert "docs/deploy.md" in cited
    assert [doc for doc in sorted(cited) if not (ROOT / doc).is_file()] == []


def test_the_deploy_doc_gives_the_same_deny_statements_as_the_template(template: Template) -> None:
    """The statements to paste on a bucket the stack does not own are the function's own Deny statements."""
    blocks = json_blocks((ROOT / "docs" / "deploy.md").read_text())
    pasted = [
        s
        for block in blocks
        for s in as_list(block.get("Statement", block) if isinstance(block, dict) else block)
    ]
    for sid in ("HistoryOnlyIfAbsent", "ManifestOnlyConditional"):
        mine = _statement(template, sid)
        documented = [s for s in pasted if s.get("Sid") == sid]
        assert len(documented) == 2, f"{sid}: want it once for the function's policy, once for the bucket's"
        for statement in documented:
            assert (statement["Effect"], statement["Action"], statement["Condition"]) == (
                "Deny",
                mine["Action"],
                mine["Condition"],
            )
            suffix = mine["Resource"]["Fn::Sub"][0].split("${LivePrefix}")[1]
            assert statement["Resource"] == f"arn:aws:s3:::LIVE_BUCKET/static/{suffix}"
    assert any(s.get("Sid") == "AllowCloudFrontRead" for s in pasted)


# ---------------------------------------------------------------- issue 10: reports, invalidation, event


def _policy_entries(template: Template) -> list[Any]:
    return [e for p in function(template)["Policies"] if isinstance(p, dict) for e in as_list(p["Statement"])]


def test_reports_are_written_only_under_the_report_prefix_of_the_artifacts_bucket(template: Template) -> None:
    env = environment(template)
    prefix = env["REPORT_PREFIX"]
    assert not prefix.startswith("staging/") and prefix.endswith("/"), "reports must not trigger the function"
    grants = [
        (actions, path)
        for actions, bucket, path in s3_grants(template)
        if bucket == artifacts_bucket_name(template) and path == f"/{prefix}*"
    ]
    assert grants == [(REPORT_ACTIONS, f"/{prefix}*")]


def test_invalidation_is_granted_only_on_the_distribution_the_function_is_told_of(template: Template) -> None:
    env = environment(template)
    distribution = {"Fn::If": ["CreateCdn", {"Ref": "CdnDistribution"}, {"Ref": "CloudFrontDistributionId"}]}
    assert env["CLOUDFRONT_DISTRIBUTION_ID"] == distribution
    [entry] = [e for e in _policy_entries(template) if "Fn::If" in e and e["Fn::If"][0] == "InvalidateCdn"]
    statement, otherwise = entry["Fn::If"][1:]
    assert otherwise == NO_VALUE
    assert (statement["Effect"], statement["Action"]) == ("Allow", "cloudfront:CreateInvalidation")
    text, variables = statement["Resource"]["Fn::Sub"]
    assert text.endswith(":distribution/${Id}") and variables == {"Id": distribution}
    assert template["Conditions"]["InvalidateCdn"]["Fn::Or"][0] == {"Condition": "CreateCdn"}


def test_release_events_go_only_to_the_default_bus(template: Template) -> None:
    assert environment(template)["EVENT_BUS_NAME"] == "default"
    granted = [s for s in function_statements(template) if "events:PutEvents" in as_list(s["Action"])]
    assert [s["Resource"] for s in granted] == [
        {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"}
    ]
    assert all(
        not a.startswith(("events:", "cloudfront:")) or "*" not in a for s in granted for a in s["Action"]
    )


# ---------------------------------------------------------------- the verify-and-repair function


def verify_function(template: Template) -> dict[str, Any]:
    return template["Resources"]["VerifyFunction"]["Properties"]


def verify_statements(template: Template) -> list[dict[str, Any]]:
    return [s for p in verify_function(template)["Policies"] for s in statements(p)]


def test_the_verify_function_runs_the_repair_handler_with_the_sync_functions_settings(
    template: Template,
) -> None:
    verify = verify_function(template)
    assert (verify["CodeUri"], verify["Handler"]) == ("lambda_fn/", "verify_app.lambda_handler")
    assert (ROOT / "lambda_fn" / "verify_app.py").is_file()
    sync_env, verify_env = environment(template), verify["Environment"]["Variables"]
    for name in (
        "LIVE_BUCKET",
        "LIVE_PREFIX",
        "STAGING_PREFIX",
        "HISTORY_PREFIX",
        *(f"CACHE_CONTROL_{kind}" for kind in ("HASHED", "UNHASHED", "MANIFEST")),
    ):
        assert verify_env[name] == sync_env[name], f"{name}: a repair must write what a deploy writes"
    assert verify_env["ARTIFACTS_BUCKET"] == {"Ref": "ArtifactsBucket"}


def test_the_verify_schedule_is_off_unless_a_schedule_is_given(template: Template) -> None:
    parameter = template["Parameters"]["VerifySchedule"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "rate(1 day)")
    assert not re.fullmatch(parameter["AllowedPattern"], "daily")
    [event] = verify_function(template)["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["State"] == {"Fn::If": ["HasVerifySchedule", "ENABLED", "DISABLED"]}
    assert template["Conditions"]["HasVerifySchedule"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "VerifySchedule"}, ""]}]
    }


def test_the_verify_function_lists_only_the_live_prefix_and_never_writes_the_deployers_keys(
    template: Template,
) -> None:
    found = {s["Sid"]: s for s in verify_statements(template)}
    listing = found["ListLivePrefix"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${LivePrefix}*"}}}
    assert found["ReadRetainedArtifacts"]["Action"] == "s3:GetObject"
    assert found["ReadRetainedArtifacts"]["Resource"] == {
        "Fn::Sub": "${ArtifactsBucket.Arn}/${StagingPrefix}*"
    }
    writes = found["RestoreLiveFiles"]
    assert set(writes["Action"]) == {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"}
    assert writes["Resource"]["Fn::Sub"][0].endswith("/${LivePrefix}*")
    deny = found["NeverWriteDeployerKeys"]
    assert (deny["Effect"], deny["Action"]) == ("Deny", "s3:PutObject")
    denied = {resource["Fn::Sub"][0].rsplit("}", 1)[1] for resource in deny["Resource"]}
    assert denied == {"staticfiles.json", ".releases/*"}
    for statement in found.values():
        actions = as_list(statement["Action"])
        assert not any("*" in action or "Delete" in action for action in actions), statement["Sid"]


def test_the_verify_function_logs_to_a_group_with_retention_and_is_not_retried(template: Template) -> None:
    verify = verify_function(template)
    group = template["Resources"][verify["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}-verify"}
    assert verify["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert verify["ReservedConcurrentExecutions"] == 1


# ---------------------------------------------------------------- the deploy state machine's definition


def _task_function(state: dict[str, Any]) -> Any:
    return state.get("Parameters", {}).get("FunctionName")


def check_definition(asl: dict[str, Any]) -> Problems:
    """statemachine/deploy.asl.json: plan and finish in the sync function (retried while it is busy), a
    Distributed Map over the shard list that tolerates no failure, the finish back to plan on a race."""
    from staticsync.dispatch import FAILED, FINISH, PLAN

    states, problems = asl["States"], []
    for name, step in zip(SYNC_TASKS, (PLAN, FINISH, FAILED), strict=True):
        state = states.get(name, {})
        if (
            _task_function(state) != "${SyncFunctionArn}"
            or state["Parameters"]["Payload"].get("staticsync") != step
        ):
            problems.append(f"{name} does not run the sync function's {step} step")
        retries = [r for r in state.get("Retry", []) if THROTTLED in r["ErrorEquals"]]
        if not retries or retries[0].get("MaxAttempts", 3) < 20:
            problems.append(f"{name} gives up on a busy sync function ({THROTTLED})")
    shards = states.get("Shards", {})
    processor = shards.get("ItemProcessor", {})
    if processor.get("ProcessorConfig", {}).get("Mode") != "DISTRIBUTED":
        problems.append("the Map is not distributed")
    reader = shards.get("ItemReader", {})
    if (reader.get("Resource"), reader.get("ReaderConfig"), reader.get("Parameters")) != (
        "arn:aws:states:::s3:getObject",
        {"InputType": "JSON"},
        {"Bucket.$": "$.plan.list.bucket", "Key.$": "$.plan.list.key"},
    ):
        problems.append("the Map does not read the plan step's shard list")
    if shards.get("ToleratedFailurePercentage") != 0:
        problems.append("the Map tolerates failed shards")
    if shards.get("ItemSelector") != {
        "index.$": "$$.Map.Item.Value.index",
        "digest.$": "$$.Map.Item.Value.digest",
        "list.$": "$.plan.list",
    }:
        problems.append("a child is not given its item's digest and the plan step's list")
    inner = processor.get("States", {}).get(processor.get("StartAt", ""), {})
    if _task_function(inner) != "${ShardFunctionArn}":
        problems.append("the Map's children do not run the shard function")
    if (
        shards.get("Next") != "Finish"
        or states.get("Planned", {}).get("Choices", [{}])[0].get("Next") != "Shards"
    ):
        problems.append("the Map does not follow the plan and lead to the finish")
    back = states.get("Finished", {}).get("Choices", [{}])[0]
    if (back.get("Variable"), back.get("StringEquals"), back.get("Next")) != (
        "$.finish.next",
        "plan",
        "Plan",
    ):
        problems.append("a finish that lost the race does not go back to plan")
    return problems


@pytest.fixture(scope="module")
def definition(template: Template) -> dict[str, Any]:
    return definition_of(template)


def test_the_state_machine_definition_passes(definition: dict[str, Any]) -> None:
    assert check_definition(definition) == []


def _state(name: str, **changes: Any) -> Callable[[dict[str, Any]], None]:
    return lambda asl: asl["States"][name].update(changes)


DEFINITION_MUTATIONS = [
    ("tolerates-failures", _state("Shards", ToleratedFailurePercentage=5)),
    (
        "inline-map",
        lambda asl: asl["States"]["Shards"]["ItemProcessor"]["ProcessorConfig"].update(Mode="INLINE"),
    ),
    ("no-digest", lambda asl: asl["States"]["Shards"]["ItemSelector"].pop("digest.$")),
    (
        "list-from-the-item",
        lambda asl: asl["States"]["Shards"]["ItemSelector"].update({"list.$": "$$.Map.Item.Value"}),
    ),
    (
        "finish-in-shard-function",
        lambda asl: asl["States"]["Finish"]["Parameters"].update(FunctionName="${ShardFunctionArn}"),
    ),
    ("plan-gives-up-when-busy", _state("Plan", Retry=[])),
    ("race-ends-the-execution", lambda asl: asl["States"]["Finished"]["Choices"][0].update(Next="Done")),
    ("skip-the-finish", _state("Shards", Next="Done")),
]


@pytest.mark.parametrize(
    "mutate", [m[1] for m in DEFINITION_MUTATIONS], ids=[m[0] for m in DEFINITION_MUTATIONS]
)
def test_the_definition_check_catches_each_broken_rule(
    definition: dict[str, Any], mutate: Callable[[dict[str, Any]], None]
) -> None:
    broken = copy.deepcopy(definition)
    mutate(broken)
    assert check_definition(broken) != []


def test_the_sample_state_machine_events_are_the_payloads_it_sends(definition: dict[str, Any]) -> None:
    from staticsync.dispatch import machine_step
    from tests.conftest import load_event

    for name, step in (("plan", "sharded-plan"), ("finish", "sharded-finish"), ("failed", "sharded-failed")):
        assert machine_step(load_event(f"sharded_{name}.json")) == step
    selector = definition["States"]["Shards"]["ItemSelector"]
    assert set(load_event("sharded_shard.json")) == {key.removesuffix(".$") for key in selector}
    assert (
        machine_step(load_event("sharded_shard.json")) is None
    )  # a child's payload is not the sync function's
