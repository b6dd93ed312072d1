"""The CDK construct synthesizes the stack template.yaml describes: same resources, same policies.

Synthesized once (bundling skipped: only the template is compared) and compared with template.yaml
read with its short-form intrinsics expanded, section by section.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("SyncFunction", "VerifyFunction", "ShardFunction")
# What the CDK adds to every stack of an app: its bootstrap check, and CDKMetadata where analytics are on.
CDK_PARAMETERS = {"BootstrapVersion"}
CDK_RULES = {"CheckBootstrapVersion"}
CDK_RESOURCES = {"CDKMetadata"}
CDK_CONDITIONS = {"CDKMetadataAvailable"}

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="the CDK needs Node.js to synthesize (apt-get install nodejs); the construct is not tested",
)


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (`!Ref X`) read as their long forms (`{"Ref": "X"}`)."""


def long_form(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", long_form)


def normal(value: Any) -> Any:
    """`Fn::GetAtt` and `DependsOn` in their list forms (CloudFormation takes `"A.B"` and `["A", "B"]`,
    `"A"` and `["A"]` alike)."""
    if isinstance(value, dict):
        if set(value) == {"Fn::GetAtt"} and isinstance(value["Fn::GetAtt"], str):
            return {"Fn::GetAtt": value["Fn::GetAtt"].split(".", 1)}
        if isinstance(value.get("DependsOn"), str) and "Type" in value:
            value = {**value, "DependsOn": [value["DependsOn"]]}
        return {key: normal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normal(item) for item in value]
    return value


def template_yaml() -> dict[str, Any]:
    document: dict[str, Any] = normal(
        yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)
    )
    return document


@pytest.fixture(scope="module")
def synthesized() -> Iterator[dict[str, Any]]:
    """The template of a stack holding StaticDeploy, LivePrefix defaulted to assets/."""
    pytest.importorskip("aws_cdk", reason="the cdk extra is not installed: pip install -e '.[cdk]'")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")
    sys.path.insert(0, str(ROOT / "cdk"))
    try:
        import aws_cdk as cdk

        from static_deploy_cdk import StaticDeploy

        app = cdk.App(context={"aws:cdk:bundling-stacks": []})  # only the template matters here
        stack = cdk.Stack(app, "StaticDeployStack")
        StaticDeploy(stack, "StaticDeploy", parameters={"LivePrefix": "assets/"})
        yield normal(app.synth().get_stack_by_name("StaticDeployStack").template)
    finally:
        sys.path.remove(str(ROOT / "cdk"))


def without(section: dict[str, Any], names: set[str]) -> dict[str, Any]:
    return {name: value for name, value in section.items() if name not in names}


def test_the_stack_has_template_yamls_resources_with_their_logical_ids_and_types(
    synthesized: dict[str, Any],
) -> None:
    types = {name: r["Type"] for name, r in without(synthesized["Resources"], CDK_RESOURCES).items()}
    assert types == {name: r["Type"] for name, r in template_yaml()["Resources"].items()}


def test_each_role_and_bucket_policy_allows_the_same_actions(synthesized: dict[str, Any]) -> None:
    assert policy_actions(synthesized) == policy_actions(template_yaml())


def policy_actions(template: dict[str, Any]) -> dict[str, list[tuple[str, str, tuple[str, ...]]]]:
    """Per resource, (Sid, Effect, actions) of each statement of its policies."""
    found: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [p for p in properties.get("Policies", []) if isinstance(p, dict) and "Statement" in p]
        if "PolicyDocument" in properties:
            documents.append(properties["PolicyDocument"])
        statements = [s for d in documents for s in d["Statement"]]
        if statements:
            found[name] = [statement(s) for s in unconditional(statements)]
    assert set(found) >= {*FUNCTIONS, "ArtifactsBucketPolicy", "LiveBucketPolicy"}
    return found


def unconditional(statements: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The statements, each branch of a `Fn::If` (a statement only under a condition) with its condition."""
    for s in statements:
        if "Fn::If" in s:
            condition, *branches = s["Fn::If"]
            for branch in branches:
                if "Effect" in branch:
                    yield {**branch, "Sid": f"{branch.get('Sid', '')} if {condition}"}
        else:
            yield s


def statement(s: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
    key = "Action" if "Action" in s else "NotAction"
    actions = s[key] if isinstance(s[key], list) else [s[key]]
    return s.get("Sid", ""), s["Effect"], tuple(sorted(f"{key}:{action}" for action in actions))


def test_every_resource_is_as_template_yaml_writes_it_but_the_functions_code(
    synthesized: dict[str, Any],
) -> None:
    ours = template_yaml()["Resources"]
    for name, resource in ours.items():
        theirs = dict(synthesized["Resources"][name])
        if name in FUNCTIONS:
            code = theirs["Properties"].get("CodeUri")
            assert set(code) == {"Bucket", "Key"} and code["Key"].endswith(".zip")
            theirs["Properties"] = {**theirs["Properties"], "CodeUri": resource["Properties"]["CodeUri"]}
        if name == "DeployStateMachine":  # its definition file, staged as an asset
            definition = theirs["Properties"].get("DefinitionUri")
            assert set(definition) == {"Bucket", "Key"} and definition["Key"].endswith(".json")
            uri = resource["Properties"]["DefinitionUri"]
            theirs["Properties"] = {**theirs["Properties"], "DefinitionUri": uri}
        assert theirs == resource, name


def test_the_sam_transform_globals_conditions_rules_and_outputs_are_kept(synthesized: dict[str, Any]) -> None:
    ours = template_yaml()
    assert synthesized["Transform"] == ours["Transform"] == "AWS::Serverless-2016-10-31"
    assert synthesized["Globals"] == ours["Globals"]
    assert without(synthesized["Conditions"], CDK_CONDITIONS) == ours["Conditions"]
    assert without(synthesized["Rules"], CDK_RULES) == ours["Rules"]
    assert synthesized["Outputs"] == ours["Outputs"]


def test_parameters_are_kept_and_the_constructs_values_become_their_defaults(
    synthesized: dict[str, Any],
) -> None:
    ours = template_yaml()["Parameters"]
    theirs = without(synthesized["Parameters"], CDK_PARAMETERS)
    assert theirs["LivePrefix"] == {**ours["LivePrefix"], "Default": "assets/"}
    assert without(theirs, {"LivePrefix"}) == without(ours, {"LivePrefix"})


def test_every_ref_names_a_parameter_a_resource_or_a_pseudo_parameter(synthesized: dict[str, Any]) -> None:
    known = set(synthesized["Parameters"]) | set(synthesized["Resources"])
    dangling = {
        ref for ref in refs(synthesized["Resources"]) if ref not in known and not ref.startswith("AWS::")
    }
    assert dangling == set()


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            yield value["Ref"]
        for item in value.values():
            yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def test_a_parameter_the_template_lacks_is_refused() -> None:
    pytest.importorskip("aws_cdk", reason="the cdk extra is not installed: pip install -e '.[cdk]'")
    sys.path.insert(0, str(ROOT / "cdk"))
    try:
        import aws_cdk as cdk

        from static_deploy_cdk import StaticDeploy

        stack = cdk.Stack(cdk.App(context={"aws:cdk:bundling-stacks": []}), "Stack")
        with pytest.raises(ValueError, match="no parameter 'LivePrefx'"):
            StaticDeploy(stack, "StaticDeploy", parameters={"LivePrefx": "assets/"})
    finally:
        sys.path.remove(str(ROOT / "cdk"))
