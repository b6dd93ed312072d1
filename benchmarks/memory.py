"""`python -m benchmarks.memory`: the Lambda's peak RSS, CPU per file and requests on a hostile shape.

One synthetic artifact of about 100,000 files shaped like the worst real ones: folders 12 deep, over half
the paths non-ASCII, every file with its hashed copy, and five stored members of 21-49 MB. It is staged
on SeaweedFS (no added latency: this measures the function's memory and CPU, not the network), and the
handler runs in a fresh process per scenario (`invoke`, as benchmarks/invoke.py does) on the S3 event
of the upload, object size included:

- first: the whole artifact into an empty live prefix;
- nochange: the same bytes staged again under another key;
- scattered: a release with `--changed` sources spread evenly across the artifact;
- rescattered: that release staged again (a no-change redeploy after `scattered`, e.g. with --keep-store).

`--lambda-dir` runs another copy of lambda_fn (e.g. `git archive HEAD lambda_fn`) for a before/after.
`--plain` generates the common shape instead (100,000 files under short ASCII paths, no large member).
`--profile DIR` writes each scenario's cProfile stats to DIR/<scenario>.prof and adds `peak_stack`, the
handler's stack when its RSS reached its peak (sampled every 5 ms), to the scenario's result.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import random
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "lambda_fn"), str(ROOT)]

from staticsync.model.contract import (  # noqa: E402
    FILES_DIR,
    MANIFEST_NAME,
    META_RELEASE_SHA256,
    META_TAIL_BYTES,
    RELEASE_NAME,
    ReleaseRecord,
)
from staticsync.model.names import hashed_name  # noqa: E402

LARGE_MB = (21, 27, 33, 41, 49)
WORDS = ("static", "données", "компонент", "画像", "app", "vendor", "ελληνικά", "css", "ünïcode", "js")
FILE_MODE = 0o100644 << 16


def source_path(index: int, rng: random.Random) -> str:
    """A path 12 folders deep; over half of them carry non-ASCII words."""
    folders = [f"{rng.choice(WORDS)}{(index >> (bit % 16)) % 7}" for bit in range(12)]
    return "/".join([*folders, f"f{index:06}-{rng.choice(WORDS)}.css"])


def plain_path(index: int, rng: random.Random) -> str:
    """A Django-shaped path: an app's folder, a kind, a file (ASCII, 3 deep)."""
    return f"app{index % 40}/{('css', 'js', 'img')[index % 3]}/f{index:06}.css"


def write(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr, info.create_system = FILE_MODE, 3
    info.compress_type = zipfile.ZIP_STORED if name.endswith(".mp4") else zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def generate(out: Path, files: int, release: str, changed: int = 0, plain: bool = False) -> dict[str, str]:
    """Write the artifact; returns its object metadata. `changed` sources get other bytes. `plain`: short
    ASCII paths and no large member (the common shape, for comparison)."""
    rng = random.Random(files)
    large = () if plain else LARGE_MB
    sources = (files - len(large)) // 2
    every = max(1, sources // changed) if changed else 0
    tree: dict[str, bytes] = {}
    manifest: dict[str, str] = {}
    for index in range(sources):
        name = (plain_path if plain else source_path)(index, rng)
        data = rng.randbytes(rng.randint(100, 1500)).hex().encode()
        if every and index % every == every // 2:
            data += f"/* {release} */".encode()
        manifest[name] = hashed_name(name, data)
        tree[name] = tree[manifest[name]] = data
    for number, size in enumerate(large):
        tree[f"media/large-{number}.mp4"] = random.Random(size).randbytes(size * 1024 * 1024)
    manifest_bytes = json.dumps({"paths": manifest, "version": "1.1", "hash": release}).encode()
    digests = {path: hashlib.sha256(data).hexdigest() for path, data in tree.items()}
    record = ReleaseRecord(
        release, "2026-01-01T00:00:00Z", digests, hashlib.sha256(manifest_bytes).hexdigest()
    )
    release_bytes = record.to_json(sum(map(len, tree.values())))
    with out.open("wb") as raw, zipfile.ZipFile(raw, "w") as archive:
        for path in sorted(tree):
            write(archive, FILES_DIR + path, tree.pop(path))
        tail_start = raw.tell()
        write(archive, MANIFEST_NAME, manifest_bytes)
        write(archive, RELEASE_NAME, release_bytes)
    tail = out.stat().st_size - tail_start
    return {META_RELEASE_SHA256: hashlib.sha256(release_bytes).hexdigest(), META_TAIL_BYTES: str(tail)}


def invoke(lambda_dir: str, bucket: str, key: str, size: int, profile: str = "") -> dict[str, Any]:
    """Run the handler in this (fresh) process on the event of s3://bucket/key; with `profile`, under
    cProfile (its stats written to that path) and with the stack that reached the peak RSS."""
    from benchmarks.invoke import PeakStacks, cpu_seconds, event, peak_rss_mb, profiled
    from devtools.lambda_context import FakeContext

    sys.path.insert(0, lambda_dir)
    for name in [m for m in sys.modules if m == "staticsync" or m.startswith("staticsync.")]:
        del sys.modules[name]  # this module imported the work tree's contract: use lambda_dir's
    context = FakeContext(function_name="memory-bench", memory_limit_in_mb=1769)
    started = time.perf_counter()
    app = importlib.import_module("app")
    imported, cpu_before = time.perf_counter(), cpu_seconds()
    raw = event(bucket, key, size)
    stdout, sys.stdout = sys.stdout, sys.stderr
    peaks = PeakStacks() if profile else None
    try:
        with profiled(profile), peaks or contextlib.nullcontext():
            [report] = app.lambda_handler(raw, context)["deploys"]
    finally:
        sys.stdout = stdout
    return ({"peak_stack": peaks.stack} if peaks else {}) | {
        "outcome": report["outcome"],
        "reason": report.get("reason"),
        "files_uploaded": report.get("files_uploaded"),
        "s3_requests": report.get("s3_requests"),
        "requests": report.get("requests_by_operation"),
        "seconds": round(time.perf_counter() - imported, 3),
        "cpu_seconds": round(cpu_seconds() - cpu_before, 3),
        "init_seconds": round(imported - started, 3),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_scenario(
    server: Any, lambda_dir: Path, key: str, size: int, prefix: str, profile: str = "", extra: Any = ()
) -> dict[str, Any]:
    env = server.env() | {
        "LIVE_BUCKET": "live",
        "LIVE_PREFIX": prefix,
        "MALLOC_ARENA_MAX": "2",
        "MALLOC_MMAP_THRESHOLD_": "262144",
    }
    env |= dict(setting.split("=", 1) for setting in extra)
    env |= {"POWERTOOLS_SERVICE_NAME": "memory-bench", "POWERTOOLS_METRICS_NAMESPACE": "Bench"}
    env |= {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "PRUNE_AFTER_DEPLOY": "false",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "-m", "benchmarks.memory", "invoke", str(lambda_dir), key, str(size), profile]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{key}: the handler failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["invoke"]:
        lambda_dir, key, size, profile = (*argv[1:5], "")[:4]
        print(json.dumps(invoke(lambda_dir, "artifacts", key, int(size), profile), sort_keys=True))
        return 0
    from devtools.seaweed import running_seaweed

    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=100, help="sources changed in `scattered`")
    parser.add_argument("--plain", action="store_true", help="short ASCII paths, no large member")
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the handler's environment (repeatable)"
    )
    parser.add_argument("--lambda-dir", type=Path, default=ROOT / "lambda_fn")
    parser.add_argument("--work", type=Path, default=HERE / ".work" / "memory")
    parser.add_argument("--scenarios", default="first,nochange,scattered")
    parser.add_argument(
        "--profile",
        type=Path,
        help="a folder: each scenario's cProfile stats (<scenario>.prof) and the stack at its peak RSS",
    )
    parser.add_argument(
        "--keep-store",
        action="store_true",
        help="reuse the store the last run left (its live release): e.g. `--scenarios nochange` alone",
    )
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    shape = f"plain{args.files}" if args.plain else f"shape{args.files}"
    artifacts = {
        "r1": (args.work / f"{shape}-r1.zip", 0),
        "r2": (args.work / f"{shape}-r2-{args.changed}.zip", args.changed),
    }
    metadata = {}
    for release, (path, changed) in artifacts.items():
        cached = path.with_suffix(".json")
        if not cached.exists():
            print(f"memory: generating {path.name}", file=sys.stderr, flush=True)
            cached.write_text(json.dumps(generate(path, args.files, release, changed, args.plain)))
        metadata[release] = json.loads(cached.read_text())
    # rescattered: the scattered release again, a no-change redeploy once `scattered` left it live.
    staged = {"first": "r1", "nochange": "r1", "scattered": "r2", "rescattered": "r2"}
    results: dict[str, Any] = {"files": args.files, "lambda_dir": str(args.lambda_dir)}
    if not args.keep_store:
        shutil.rmtree(args.work / "seaweed", ignore_errors=True)  # a fresh store: nothing live yet
    with running_seaweed(args.work / "seaweed", ["artifacts", "live"]) as server:
        client = server.client()
        for scenario in args.scenarios.split(","):
            path = artifacts[staged[scenario]][0]
            key = f"staging/{scenario}.zip"
            client.upload_file(
                str(path), "artifacts", key, ExtraArgs={"Metadata": metadata[staged[scenario]]}
            )
            profile = str(args.profile.resolve() / f"{scenario}.prof") if args.profile else ""
            size = path.stat().st_size
            lambda_dir = args.lambda_dir.resolve()
            result = run_scenario(server, lambda_dir, key, size, "bench/", profile, args.env)
            result["cpu_ms_per_file"] = round(1000 * result["cpu_seconds"] / args.files, 3)
            results[scenario] = result
            print(f"memory: {scenario}: {json.dumps(result)}", file=sys.stderr, flush=True)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
