"""The handler's cold start: `python -X importtime -c "import app"`, split by package, as JSON; and a
build's imports: `python -X importtime -m build_tool ARGS...` (`--build`).

    python -m benchmarks.importtime [--code-dir lambda_fn] [--runs 5] [--env NAME=VALUE ...]
    python -m benchmarks.importtime --build [--runs 5] -- package --settings S --project-dir P ...

Each run is a fresh interpreter with only the code folder on its path (as in Lambda), `LIVE_BUCKET`
set, dummy credentials and no network. Every imported module's own time is charged to the package that
first imported it (`botocore` under `boto3`, `wrapt` under `aws_xray_sdk`, ...); `app` is the handler
module's own body (creating the S3 client, Logger, Tracer and Metrics). Medians over the runs, in ms,
wall clock as importtime measures it, with the fastest run and the process's CPU time (interpreter
start-up included), which a busy machine disturbs less.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = {
    "boto3": "boto3",
    "botocore": "boto3",
    "s3transfer": "boto3",
    "aws_xray_sdk": "aws_xray_sdk",
    "aws_lambda_powertools": "powertools",
    "staticsync": "staticsync",
    "app": "app",
}
# What the template's Globals and the function set; the benchmark runs with tracing off, as invoke.py.
BASE_ENV = {
    "LIVE_BUCKET": "live",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "static-deploy-bench",
    "POWERTOOLS_METRICS_NAMESPACE": "Bench",
}


def parse(stderr: str) -> tuple[float, dict[str, float], dict[str, float]]:
    """(import app's cumulative ms, own ms by package, cumulative ms of each module app imports)."""
    rows = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own_us, cumulative_us, name = line.removeprefix("import time:").split("|")
            rows.append((int(own_us), int(cumulative_us), name.rstrip()))
    by_family: dict[str, float] = defaultdict(float)
    under_app: dict[str, float] = {}
    total = 0.0
    ancestors: list[str] = []
    # importtime prints children before their parent: read it backwards to see parents first.
    for own, cumulative, name in reversed(rows):
        depth = (len(name) - len(name.lstrip())) // 2
        module = name.strip()
        family = FAMILIES.get(module.partition(".")[0], ancestors[depth - 1] if depth else "interpreter")
        del ancestors[depth:]
        ancestors.append(family)
        by_family[family] += own / 1000
        if module == "app" and depth == 0:
            total = cumulative / 1000
        elif depth == 1 and ancestors[0] == "app":
            under_app[module] = cumulative / 1000
    return total, dict(by_family), under_app


# (import app ms, own ms by package, cumulative ms of app's imports, the process's CPU ms)
Sample = tuple[float, dict[str, float], dict[str, float], float]


def run_once(code_dir: Path, env: dict[str, str], python: str) -> Sample:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "PYTHON"))}
    clean |= BASE_ENV | env | {"PYTHONPATH": str(code_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [python, "-X", "importtime", "-c", "import app"],
        cwd=code_dir,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"importtime: `import app` failed in {code_dir}:\n{done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000
    return (*parse(done.stderr), cpu)


def measure(code_dir: Path, env: dict[str, str], runs: int, python: str) -> dict[str, object]:
    python = os.path.abspath(python) if os.sep in python else python  # run_once's cwd is code_dir
    samples = [run_once(code_dir, env, python) for _ in range(runs)]
    families = sorted({f for _, by_family, _, _ in samples for f in by_family})
    by_package = {f: round(statistics.median(s[1].get(f, 0.0) for s in samples), 1) for f in families}
    modules = {m for _, _, under_app, _ in samples for m in under_app}
    top = sorted((round(statistics.median(s[2].get(m, 0.0) for s in samples), 1), m) for m in modules)
    return {
        "code_dir": str(code_dir),
        "env": env,
        "runs": runs,
        "import_app_ms": round(statistics.median(s[0] for s in samples), 1),
        # The fastest run: on a busy machine the least disturbed one, closest to an idle core.
        "import_app_min_ms": round(min(s[0] for s in samples), 1),
        "process_cpu_ms": round(statistics.median(s[3] for s in samples), 1),
        "by_package_ms": dict(sorted(by_package.items(), key=lambda item: -item[1])),
        "top_imports_by_app_ms": [{"module": m, "cumulative_ms": ms} for ms, m in reversed(top[-8:])],
    }


# A build's imports by package: the tool, the AWS SDK, Django and whitenoise; the rest is the standard
# library or the project's own apps (rest_framework, debug_toolbar, ...).
BUILD_FAMILIES = {
    "build_tool": "build_tool",
    "staticsync": "staticsync",
    "boto3": "boto3",
    "botocore": "boto3",
    "s3transfer": "boto3",
    "urllib3": "boto3",
    "jmespath": "boto3",
    "dateutil": "boto3",
    "django": "django",
    "asgiref": "django",
    "sqlparse": "django",
    "whitenoise": "whitenoise",
    "brotli": "whitenoise",
}


def parse_build(stderr: str) -> tuple[dict[str, float], float]:
    """(own ms by package, own ms of what was imported before Django's first module): the import of a
    build, every module charged to its own top-level package. Threads import side by side (the S3
    side's boto3 beside Django), so importtime's nesting is not trusted here, only each line's own."""
    by_family: dict[str, float] = defaultdict(float)
    before_django, django_seen = 0.0, False
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own_us, _, name = line.removeprefix("import time:").split("|")
        top = name.strip().partition(".")[0]
        stdlib = top in sys.stdlib_module_names or top.startswith("_")
        family = BUILD_FAMILIES.get(top, "stdlib" if stdlib else "project")
        by_family[family] += int(own_us) / 1000
        django_seen = django_seen or family == "django"
        before_django += 0.0 if django_seen else int(own_us) / 1000
    return dict(by_family), before_django


def measure_build(arguments: list[str], runs: int, python: str) -> dict[str, object]:
    """`python -X importtime -m build_tool ARGUMENTS` (in this environment, with `--json`) `runs` times:
    medians of the own import ms by package, of what came before Django, and of `--json`'s timings."""
    samples = []
    for _ in range(runs):
        command = [python, "-X", "importtime", "-m", "build_tool", *arguments, "--json"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise SystemExit(f"importtime: build_tool failed:\n{done.stderr[-2000:]}")
        by_family, before_django = parse_build(done.stderr)
        samples.append((by_family, before_django, json.loads(done.stdout)["timings"]))
    families = sorted({f for by_family, _, _ in samples for f in by_family})
    phases = sorted({p for _, _, timings in samples for p in timings})
    return {
        "command": ["build_tool", *arguments],
        "runs": runs,
        "by_package_ms": {
            f: round(statistics.median(s[0].get(f, 0.0) for s in samples), 1) for f in families
        },
        "before_django_ms": round(statistics.median(s[1] for s in samples), 1),
        "timings": {p: round(statistics.median(s[2].get(p, 0.0) for s in samples), 3) for p in phases},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code-dir", type=Path, default=ROOT / "lambda_fn", help="the handler's folder")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--python", default=sys.executable, help="interpreter with the Lambda's packages")
    parser.add_argument("--build", action="store_true", help="time build_tool ARGS... (after --) instead")
    parser.add_argument("arguments", nargs="*", help="with --build: build_tool's arguments")
    args = parser.parse_args(argv)
    if args.build:
        print(json.dumps(measure_build(args.arguments, args.runs, args.python), indent=2))
        return 0
    env = dict(item.split("=", 1) for item in args.env)
    print(json.dumps(measure(args.code_dir.resolve(), env, args.runs, args.python), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
