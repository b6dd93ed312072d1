"""`StaticDeploy`: the SAM application of template.yaml as a construct in a CDK app (docs/cdk.md).

The construct includes template.yaml itself (`cloudformation_include.CfnInclude`) rather than
re-declaring its resources, so `sam deploy` and `cdk deploy` create the same stack from one file.
The template keeps its `Transform: AWS::Serverless-2016-10-31`: CloudFormation runs the SAM transform
on the stack the construct is in, as it does for `sam deploy`.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, CfnOutput, DockerImage, ILocalBundling
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import cloudformation_include as cfn_include
from constructs import Construct

HERE = Path(__file__).resolve().parent
# Kept out of CDK's parsing (dehydrated): their SAM properties go to CloudFormation as written, and
# only CodeUri is set. Parsed into aws_sam.CfnFunction, their EventInvokeConfig is refused by the
# construct library's older SAM schema (OnSuccess "required"), which the SAM transform does not require.
FUNCTIONS = ("SyncFunction", "VerifyFunction", "ShardFunction")
# The function's runtime and architecture, as template.yaml's Globals say.
PYTHON_VERSION = "3.13"
PLATFORM = "manylinux2014_aarch64"
BUILD_IMAGE = f"public.ecr.aws/sam/build-python{PYTHON_VERSION}"
ENTRY_POINTS = ("app.py", "verify_app.py", "shard_app.py", "requirements.txt")
# The deploy state machine's definition (DefinitionUri, a path SAM resolves only under `sam build`).
STATE_MACHINE = "DeployStateMachine"
DEFINITION = Path("statemachine") / "deploy.asl.json"
# The CDK's own template validation (its bundled cfn-lint) reports an event's `Schedule: !If [...]` as
# missing: its SAM translator does not resolve the condition; the SAM transform does (sam validate
# --lint and cfn-lint 1.58 pass the template). Acknowledged on the functions only.
SCHEDULE_IF_WARNING = "CloudFormation-Validate::E0001"


def sources() -> tuple[Path, Path]:
    """template.yaml and the folder of the function's entry points: as the wheel ships them
    (static_deploy_cdk/stack, static_deploy_cdk/function), else the repository checkout's."""
    if (HERE / "stack" / "template.yaml").is_file():
        return HERE / "stack" / "template.yaml", HERE / "function"
    root = HERE.parents[1]
    return root / "template.yaml", root / "lambda_fn"


def staticsync_folder() -> Path:
    """The sync package's folder: lambda_fn/staticsync in a checkout, the installed one from a wheel."""
    checkout = sources()[1] / "staticsync"
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec("staticsync")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the staticsync package is not installed: pip install static-deploy")
    return Path(next(iter(spec.submodule_search_locations)))


def function_source(folder: Path) -> Path:
    """The function's code as SAM's CodeUri holds it, assembled in `folder`: entry points and staticsync."""
    entry_points = sources()[1]
    for name in ENTRY_POINTS:
        shutil.copy2(entry_points / name, folder / name)
    shutil.copytree(staticsync_folder(), folder / "staticsync", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@jsii.implements(ILocalBundling)
class PipBundling:
    """Bundle without Docker, as `sam build` does: pip installs requirements.txt for the function's
    Python and architecture (wheels only), next to a copy of the source."""

    def __init__(self, source: Path) -> None:
        self.source = str(source)

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        source = Path(self.source)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        command += ["--target", output_dir, "--platform", PLATFORM, "--implementation", "cp"]
        command += [
            "--python-version",
            PYTHON_VERSION,
            "--only-binary=:all:",
            "-r",
            str(source / "requirements.txt"),
        ]
        if subprocess.run(command, check=False).returncode != 0:
            return False  # CDK then bundles in BUILD_IMAGE with Docker
        shutil.copytree(source, output_dir, dirs_exist_ok=True)
        return True


def bundling(source: Path) -> BundlingOptions:
    install = "pip install --quiet -r requirements.txt -t /asset-output && cp -r . /asset-output"
    return BundlingOptions(
        image=DockerImage.from_registry(BUILD_IMAGE),
        command=["bash", "-c", install],
        platform="linux/arm64",
        local=PipBundling(source),
    )


class StaticDeploy(Construct):
    """The static-deploy stack (template.yaml) in this construct's stack.

    `parameters` sets the template's parameters' defaults (the stack's parameters stay overridable at
    deploy time); `code` is a folder to deploy as every function's code instead of building it (the
    output of `sam build`, `.aws-sam/build/SyncFunction`). One StaticDeploy per stack: its resources
    keep the template's logical ids, which the template's own references name.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        parameters: Mapping[str, str] | None = None,
        code: str | Path | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        template_file, _ = sources()
        self.template = cfn_include.CfnInclude(
            self, "Template", template_file=str(template_file), dehydrated_resources=list(FUNCTIONS)
        )
        self._set_defaults(parameters or {})
        self.code = self._code_asset(code)
        for name in FUNCTIONS:
            self._point_at_code(name)
        self._point_at_definition(template_file.parent / DEFINITION)

    def _set_defaults(self, parameters: Mapping[str, str]) -> None:
        """Defaults rather than CfnInclude's `parameters` (which replaces a parameter by its value):
        the dehydrated functions are not parsed, so their Refs to a replaced parameter would dangle."""
        for name, value in parameters.items():
            try:
                self.template.get_parameter(name).default = value
            except RuntimeError as error:  # jsii's error for a name the template lacks
                raise ValueError(f"template.yaml has no parameter {name!r}: {error}") from None

    def _code_asset(self, code: str | Path | None) -> s3_assets.Asset:
        if code is not None:
            return s3_assets.Asset(self, "Code", path=str(code))
        with tempfile.TemporaryDirectory(prefix="static-deploy-function-") as folder:
            source = function_source(Path(folder))
            # Staged (copied into cdk.out, or bundled) here, in the constructor: the folder may go.
            return s3_assets.Asset(self, "Code", path=str(source), bundling=bundling(source))

    def _point_at_code(self, name: str) -> None:
        function = self.template.get_resource(name)
        function.override_logical_id(name)  # dehydrated resources lose it otherwise
        function.add_property_override(
            "CodeUri", {"Bucket": self.code.s3_bucket_name, "Key": self.code.s3_object_key}
        )
        self._acknowledge_schedule_warning(function)

    def _point_at_definition(self, definition: Path) -> None:
        """The state machine's DefinitionUri as an S3 location: the transform reads it from there."""
        asset = s3_assets.Asset(self, "Definition", path=str(definition))
        machine = self.template.get_resource(STATE_MACHINE)
        machine.add_property_override(
            "DefinitionUri", {"Bucket": asset.s3_bucket_name, "Key": asset.s3_object_key}
        )

    @staticmethod
    def _acknowledge_schedule_warning(function: Construct) -> None:
        try:
            from aws_cdk import Acknowledgment, Validations
        except ImportError:  # an aws-cdk-lib from before its template validation: nothing to acknowledge
            return
        reason = (
            "Schedule: !If [...] is resolved by the SAM transform; cfn-lint 1.58 and sam validate pass it"
        )
        Validations.of(function).acknowledge(Acknowledgment(id=SCHEDULE_IF_WARNING, reason=reason))

    def output(self, name: str) -> CfnOutput:
        """One of template.yaml's outputs (ArtifactsBucketName, LiveBucketName, PackageCommand, ...)."""
        return self.template.get_output(name)
