"""`build_tool deploy`, the direct mode, against SeaweedFS and moto's server: the engine the function
runs, run from CI on a tiny Django project (tests/projects/touchy), with the same outcomes and checks.

Every run goes through the counting proxy (devtools/s3proxy.py), so a deploy's requests are counted by
the store's side, the probe and the live read before the build included.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from build_tool.aws import direct
from devtools.s3proxy import ProxyServer, running_proxy
from devtools.seaweed import S3Server, free_ports
from staticsync.check import check_live
from staticsync.config import Settings
from tests.inprocess import PROJECTS, Done, cli

LIVE = "live"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# A round trip to S3 from a CI runner in the bucket's region, as the benchmark's proxy adds it.
LATENCY = 0.020


@dataclass
class Store:
    """An S3 server the CLI deploys to, behind the counting proxy, and a client that goes direct."""

    name: str
    endpoint_url: str
    client: Any
    environ: dict[str, str] = field(default_factory=dict)

    def settings(self) -> Settings:
        return Settings(LIVE)

    def listed(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=LIVE)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's standalone server (it needs flask and flask-cors: moto[server]) on a loopback port."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:  # a missing extra is a setup mistake, never a silent skip
        pytest.fail(f"moto's server cannot start ({error}): install moto[server] (flask, flask-cors)")
    port = free_ports(1)[0]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def moto_store(endpoint_url: str) -> Store:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    if LIVE not in {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=LIVE)
    store = Store("moto", endpoint_url, client, {**CREDENTIALS, "AWS_DEFAULT_REGION": "us-east-1"})
    for key in store.listed():
        client.delete_object(Bucket=LIVE, Key=key)
    return store


@pytest.fixture(params=["seaweedfs", "moto"])
def store(request: pytest.FixtureRequest) -> Store:
    """Each test runs on both servers, with an empty live bucket."""
    if request.param == "moto":
        return moto_store(request.getfixturevalue("moto_server"))
    server: S3Server = request.getfixturevalue("s3_server")
    request.getfixturevalue("empty_buckets")
    environ = {**CREDENTIALS, "AWS_DEFAULT_REGION": server.region}
    return Store("seaweedfs", server.endpoint_url, server.client(), environ)


@pytest.fixture
def proxy(store: Store) -> Iterator[ProxyServer]:
    with running_proxy(store.endpoint_url, latency=LATENCY) as server:
        yield server


class Site:
    """A copy of the touchy project, deployed with `build_tool deploy` through the proxy."""

    def __init__(self, work: Path, store: Store, proxy: ProxyServer) -> None:
        self.work, self.store, self.proxy = work, store, proxy
        self.folder = work / "site"
        shutil.copytree(PROJECTS / "touchy", self.folder, ignore=shutil.ignore_patterns("__pycache__"))

    def deploy(self, release: str, *args: str) -> tuple[Done, dict[str, Any]]:
        """`build_tool deploy --json`: its run, and the requests and seconds the proxy saw."""
        argv = ["deploy", "--settings", "touchysettings", "--project-dir", str(self.folder)]
        argv += ["--live-bucket", LIVE, "--endpoint-url", self.proxy.endpoint_url, "--release", release]
        self.proxy.stats.reset()
        started = time.monotonic()
        done = cli([*argv, *args], self.work, **self.store.environ)
        seen = {"seconds": round(time.monotonic() - started, 2), **self.proxy.stats.snapshot()}
        return done, seen

    def report(self, release: str, *args: str) -> dict[str, Any]:
        done, _ = self.deploy(release, "--json", *args)
        assert done.returncode == 0, done.stderr
        report: dict[str, Any] = json.loads(done.stdout)
        return report

    def edit_css(self) -> None:
        css = self.folder / "touchy_app" / "static" / "touchy" / "css" / "app.css"
        css.write_text(css.read_text() + ".edited { color: rebeccapurple; }\n")


@pytest.fixture
def site(tmp_path: Path, store: Store, proxy: ProxyServer) -> Site:
    return Site(tmp_path, store, proxy)


def test_a_first_deploy_then_a_one_file_change_uploads_only_what_changed(site: Site, store: Store) -> None:
    first = site.report("r1")
    assert (first["outcome"], first["live_release_after"], first["sequence"]) == ("deployed", "r1", 1)
    assert first["files_uploaded"] == first["files_total"]
    site.edit_css()
    done, seen = site.deploy("r2", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["outcome"], report["live_release_before"], report["live_release_after"]) == (
        "deployed",
        "r1",
        "r2",
    )
    changed = sorted(report["keys_uploaded"])
    assert [k for k in changed if not k.startswith("touchy/css/app.")] == []
    assert "touchy/css/app.css" in changed and report["files_uploaded"] == len(changed)
    # Every changed file, the history record, the journal claim and the cutover: one PUT each.
    assert report["requests_by_operation"]["PutObject"] == len(changed) + 3
    assert seen["by_operation"]["PutObject"] == len(changed) + 3 + 3  # and the probe's three
    assert seen["by_operation"]["DeleteObject"] == 1  # the probe's key
    assert check_live(store.client, store.settings()) == []
    assert not [k for k in store.listed() if "/probes/" in k]
    print(
        f"\n{store.name}: one-file change by build_tool deploy at {LATENCY * 1000:.0f} ms a request: "
        f"{seen['requests']} S3 requests in all {seen['by_operation']}, {report['s3_requests']} of them "
        f"the deploy's {report['requests_by_operation']}; deploy {report['seconds']} s, whole command "
        f"(build included) {seen['seconds']} s"
    )


def test_a_deploy_with_nothing_changed_is_unchanged_and_exits_0(site: Site, store: Store) -> None:
    assert site.report("r1")["outcome"] == "deployed"
    done, seen = site.deploy("r1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("unchanged: release r1 (live before: r1, after: r1): 0 of")
    assert seen["by_operation"]["PutObject"] == 3  # the probe's: the deploy writes nothing
    assert check_live(store.client, store.settings()) == []


def ignoring_conditions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The deploy's client sends PutObject without IfMatch and IfNoneMatch: a store that ignores them."""
    make_client = direct.make_client

    def without_conditions(*args: Any, **kwargs: Any) -> Any:
        client = make_client(*args, **kwargs)

        def strip(params: dict[str, Any], **_: Any) -> None:
            params.pop("IfMatch", None)
            params.pop("IfNoneMatch", None)

        client.meta.events.register("before-parameter-build.s3.PutObject", strip)
        return client

    monkeypatch.setattr(direct, "make_client", without_conditions)  # the forked run inherits it


def test_a_store_that_ignores_conditions_is_refused_unless_accepted(
    site: Site, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ignoring_conditions(monkeypatch)
    refused, seen = site.deploy("r1")
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.count("\n") == 1 and "--accept-unconditional-writes" in refused.stderr
    assert "IfNoneMatch ignored, IfMatch ignored" in refused.stderr
    assert "collecting" not in refused.stderr  # refused before the collect
    assert store.listed() == [] and seen["requests"] == 4  # the probe, deleted
    accepted, _ = site.deploy("r1", "--accept-unconditional-writes", "--json")
    assert accepted.returncode == 0, accepted.stderr
    report = json.loads(accepted.stdout)
    assert report["outcome"] == "deployed" and "may overwrite each other" in report["warnings"][0]
    assert "warning:" in accepted.stderr
    assert check_live(store.client, store.settings()) == []


def test_a_rollback_rebuilds_a_release_that_was_live_and_deploys_it_as_one(site: Site, store: Store) -> None:
    css = site.folder / "touchy_app" / "static" / "touchy" / "css" / "app.css"
    original = css.read_text()
    assert site.report("r1")["outcome"] == "deployed"
    site.edit_css()
    assert site.report("r2")["outcome"] == "deployed"
    css.write_text(original)
    forward, _ = site.deploy("r1")  # a forward deploy of a release that was live is refused
    assert forward.returncode == 7 and "rollback_required" in forward.stdout
    back = site.report("r1", "--rollback", "r1")
    assert (back["outcome"], back["kind"], back["live_release_after"], back["sequence"]) == (
        "deployed",
        "rollback",
        "r1",
        3,
    )
    assert check_live(store.client, store.settings()) == []
    again, _ = site.deploy("r1", "--rollback", "r1")
    assert again.returncode == 2 and "r1 is the live release" in again.stderr
