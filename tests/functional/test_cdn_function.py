"""cdn/serve_precompressed.js serves the siblings a real release has; the index and the template agree."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from staticsync.model.contract import FILES_DIR
from staticsync.model.siblings import (
    IDENTITY,
    MAX_BATCH_KEYS,
    MAX_KEY_BYTES,
    MAX_STORE_BYTES,
    index_changes,
    index_keys,
    sibling_index,
    store_bytes,
)

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_JS = ROOT / "cdn" / "serve_precompressed.js"
NODE_TEST = ROOT / "cdn" / "test" / "serve_precompressed.test.js"
PREFIX = "static/"
NODE = shutil.which("node")


class CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags as their long form (`!GetAtt A.B` -> {"Fn::GetAtt": [A, B]})."""


def _short_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in {"Ref", "Condition"} else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        return {name: value.split(".", 1) if suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _short_tag)


def load_template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)


@pytest.fixture(scope="module")
def release_sizes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Every file of the example project's artifact, as `build_tool package --output` packs it."""
    out = tmp_path_factory.mktemp("cdn") / "example.zip"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DJANGO_"))}
    env.update(SOURCE_DATE_EPOCH="1767225600", AWS_EC2_METADATA_DISABLED="true")
    args = ["--settings", "exampleproject.settings", "--project-dir", str(ROOT / "example")]
    done = subprocess.run(
        [sys.executable, "-m", "build_tool", "package", *args, "--output", str(out), "--release", "r1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as archive:
        return {
            info.filename[len(FILES_DIR) :]: info.file_size
            for info in archive.infolist()
            if info.filename.startswith(FILES_DIR)
        }


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: install Node.js 20+ to test cdn/")
def test_the_function_serves_every_file_of_a_real_release_its_smallest_acceptable_object(
    release_sizes: dict[str, int], tmp_path: Path
) -> None:
    fixture = tmp_path / "release.json"
    index = sibling_index(release_sizes, PREFIX)
    fixture.write_text(json.dumps({"prefix": PREFIX, "sizes": release_sizes, "index": index}))
    done = subprocess.run(
        [str(NODE), "--test", str(NODE_TEST)],
        capture_output=True,
        text=True,
        env={**os.environ, "CDN_RELEASE": str(fixture)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert re.search(r"^# skipped 0$", done.stdout, re.M), done.stdout[-2000:]
    assert re.search(r"^# fail 0$", done.stdout, re.M)
    assert f"release: {len(release_sizes)} files" in done.stdout


def test_the_example_release_index_lists_each_file_with_siblings_smallest_first(
    release_sizes: dict[str, int],
) -> None:
    index = sibling_index(release_sizes, PREFIX)
    with_siblings = {p for p in release_sizes if p + ".gz" in release_sizes or p + ".br" in release_sizes}
    assert set(index) == {PREFIX + p for p in with_siblings}
    assert 0 < len(index) < len(release_sizes) / 2  # whitenoise skipped some files
    for key, value in index.items():
        path = key[len(PREFIX) :]
        sizes = [release_sizes[path + (".br" if c == "br" else ".gz")] for c in value.split(",")]
        assert sizes == sorted(sizes) and all(s < release_sizes[path] for s in sizes), key
    assert store_bytes(index) < MAX_STORE_BYTES


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ({"a.css": 100, "a.css.br": 20, "a.css.gz": 30}, {"a.css": "br,gzip"}),
        ({"a.css": 100, "a.css.br": 40, "a.css.gz": 30}, {"a.css": "gzip,br"}),
        ({"a.css": 100, "a.css.br": 30, "a.css.gz": 30}, {"a.css": "br,gzip"}),
        ({"a.css": 100, "a.css.gz": 30}, {"a.css": "gzip"}),
        ({"a.css": 10, "a.css.gz": 30}, {"a.css": IDENTITY}),
        ({"data.tar.gz": 100}, {}),
        ({"a.png": 100}, {}),
        ({"x" * MAX_KEY_BYTES + ".css": 100, "x" * MAX_KEY_BYTES + ".css.gz": 10}, {}),
    ],
)
def test_the_index_maps_a_file_to_its_smaller_siblings_by_size(
    sizes: dict[str, int], expected: dict[str, str]
) -> None:
    assert sibling_index(sizes) == expected


def test_index_keys_follow_from_names_alone() -> None:
    sizes = {"a.css": 10, "a.css.gz": 30, "b.js": 100, "b.js.br": 5, "c.png": 1}
    assert index_keys(sizes, PREFIX) == set(sibling_index(sizes, PREFIX)) == {"static/a.css", "static/b.js"}


def test_a_deploy_changes_only_the_entries_its_uploads_touch() -> None:
    live = ["keep.css", "keep.css.br", "gone.css", "gone.css.gz", "lost.txt", "lost.txt.gz", "edit.css"]
    live += ["edit.css.gz"]
    sizes = {"keep.css": 9, "keep.css.br": 2, "lost.txt": 9, "edit.css": 9, "edit.css.br": 3}
    sizes |= {"edit.css.gz": 4, "new.js": 9, "new.js.gz": 4}
    uploaded = ["lost.txt", "edit.css", "edit.css.br", "edit.css.gz", "new.js", "new.js.gz"]
    changes = index_changes(sizes, live, uploaded, PREFIX)
    assert changes.puts == {"static/edit.css": "br,gzip", "static/new.js": "gzip"}
    assert changes.deletes == ("static/edit.css", "static/gone.css", "static/lost.txt")


def test_a_no_change_deploy_changes_nothing_and_batches_stay_within_update_keys_limits() -> None:
    sizes = {f"f{i}.css": 9 for i in range(120)} | {f"f{i}.css.gz": 3 for i in range(120)}
    assert index_changes(sizes, list(sizes), [], PREFIX).puts == {}
    first = index_changes(sizes, [], list(sizes), PREFIX)
    batches = list(first.put_batches())
    assert [len(b) for b in batches] == [MAX_BATCH_KEYS, MAX_BATCH_KEYS, 20]
    assert batches[0][0] == {"Key": "static/f0.css", "Value": "gzip"}
    assert list(first.delete_batches()) == []


def cdn_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r.get("Condition") == "CreateCdn"}


def test_the_template_ships_the_function_file_byte_for_byte_on_the_runtime_with_the_store() -> None:
    resources = cdn_resources(load_template())
    functions = [r for r in resources.values() if r["Type"] == "AWS::CloudFront::Function"]
    assert len(functions) == 1
    properties = functions[0]["Properties"]
    assert properties["FunctionCode"] == FUNCTION_JS.read_text()
    assert len(FUNCTION_JS.read_bytes()) <= 10240
    config = properties["FunctionConfig"]
    assert config["Runtime"] == "cloudfront-js-2.0"
    (association,) = config["KeyValueStoreAssociations"]
    store = association["KeyValueStoreARN"]["Fn::GetAtt"][0]
    assert resources[store]["Type"] == "AWS::CloudFront::KeyValueStore"
    assert properties["AutoPublish"] is True


def test_the_distribution_runs_the_function_on_viewer_requests_and_keys_on_accept_encoding() -> None:
    template = load_template()
    behavior = template["Resources"]["CdnDistribution"]["Properties"]["DistributionConfig"]
    behavior = behavior["DefaultCacheBehavior"]
    (association,) = behavior["FunctionAssociations"]
    assert association["EventType"] == "viewer-request"
    name = association["FunctionARN"]["Fn::GetAtt"][0]
    assert template["Resources"][name]["Type"] == "AWS::CloudFront::Function"
    # Managed-CachingOptimized: its cache key holds the normalised Accept-Encoding (gzip and br).
    assert behavior["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"
    assert behavior["Compress"] is True


def test_every_response_says_vary_accept_encoding() -> None:
    template = load_template()
    behavior = template["Resources"]["CdnDistribution"]["Properties"]["DistributionConfig"]
    policy_ref = behavior["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]
    assert isinstance(policy_ref, dict), "a managed response headers policy cannot add Vary"
    policy = template["Resources"][policy_ref["Ref"]]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = policy["CustomHeadersConfig"]["Items"]
    assert {"Header": "Vary", "Value": "Accept-Encoding", "Override": True} in headers
