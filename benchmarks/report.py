"""Turn benchmarks/results.json into benchmarks/README.md and benchmarks/chart.png (run by run.py)."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.stats import Key, Sums, median

HERE = Path(__file__).resolve().parent
TOOLS = ("static-deploy", "collectfasta", "collect+aws-s3-sync", "django-storages")
# build_tool's own phases; what the build's wall time has beyond them is the interpreter's exit.
PHASES = (
    "interpreter",
    "imports",
    "setup",
    "django_start",
    "inputs",
    "collect",
    "compress",
    "pack",
    "upload",
)
SCENARIO_NAMES = {
    "first": "first deploy (empty bucket)",
    "first_plain": "first deploy without siblings (ManifestStaticFilesStorage)",
    "nochange": "no change",
    "onefile": "one file changed",
    "ci_cached": "fresh CI checkout, one file changed, build cache restored",
    "ci_nocache": "fresh CI checkout, one file changed, no build cache",
    "live100k": "one file changed, no build cache, {objects:,} old objects in the live prefix",
}
CORPUS_NAMES = {
    "real": "large real set: Django admin, DRF, debug toolbar, jazzmin, import-export, "
    "drf-spectacular-sidecar, tinymce, and a small site of the project's own",
    "example": "the example project",
    "synth10k": "synthetic, 10,000 files (20% CSS with url() references, 10% JS, 70% images)",
    "synth100k": "synthetic, 100,000 files, about 1 GB (same mix)",
}


def group(results: dict[str, Any]) -> dict[Key, list[dict[str, Any]]]:
    groups: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for row in results["scenarios"]:
        latency = round(row.get("latency_ms", results.get("latency_ms", 20)))
        groups[row["corpus"], row["tool"], row["scenario"], latency].append(row)
    return groups


def latencies(sums: Sums) -> list[int]:
    return sorted({key[3] for key in sums})


def lam(row: dict[str, Any]) -> dict[str, Any]:
    return dict(row["phases"].get("lambda", {}))


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over runs of one (corpus, tool, scenario)."""
    out: dict[str, Any] = {"runs": len(rows), "seconds": median([r["seconds"] for r in rows])}
    out["requests"] = median([r["requests"] for r in rows])
    out["bytes_up"] = median([r["bytes_up"] for r in rows])
    out["bytes_down"] = median([r["bytes_down"] for r in rows])
    ops: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        for name, count in row["by_operation"].items():
            ops[name].append(count)
    out["by_operation"] = {
        name: median(counts + [0] * (len(rows) - len(counts))) for name, counts in ops.items()
    }
    lambdas = [lam(r) for r in rows if lam(r)]
    if lambdas:
        out["lambda_seconds"] = median([x["handler_seconds"] for x in lambdas])
        out["lambda_cpu"] = median([x.get("handler_cpu_seconds", float("nan")) for x in lambdas])
        out["lambda_requests"] = median([x["requests"] for x in lambdas])
        out["lambda_rss_mb"] = max(x["peak_rss_mb"] for x in lambdas)
        out["files_uploaded"] = median([x["report"]["files_uploaded"] for x in lambdas])
        # The deploy's own requests (the sync report's s3_requests): the proxy's count less the report
        # object the handler writes afterwards for CI's --wait.
        out["deploy_requests"] = median([x["report"].get("s3_requests", x["requests"]) for x in lambdas])
        builds = [r["phases"]["build"] for r in rows if "build" in r["phases"]]
        if builds:
            out["build_seconds"] = median([b["seconds"] for b in builds])
            out["build_bytes_up"] = median([b["bytes_up"] for b in builds])
        timings = [r["timings"] for r in rows if r.get("timings")]
        if timings:
            out["timings"] = {p: median([x.get(p, 0.0) for x in timings]) for p in PHASES}
        out["delta"] = any(r.get("delta") for r in rows)
        out["cache"] = any(r.get("cache") for r in rows)
        plain = [r for r in rows if "plain_collect_seconds" in r and "build" in r["phases"]]
        if plain:  # the plain collect timed beside each build: ratios of the same moment
            out["plain_collect_seconds"] = median([r["plain_collect_seconds"] for r in plain])
            out["build_ratio"] = median(
                [r["phases"]["build"]["seconds"] / r["plain_collect_seconds"] for r in plain]
            )
            cpu = [r for r in plain if r.get("plain_collect_cpu") and "cpu_seconds" in r["phases"]["build"]]
            if cpu:
                out["build_cpu_ratio"] = median(
                    [r["phases"]["build"]["cpu_seconds"] / r["plain_collect_cpu"] for r in cpu]
                )
    fills = [r["fill"] for r in rows if r.get("fill")]
    if fills:
        out["live_objects"] = min(f["objects"] for f in fills)
        out["fill_per_second"] = median([f["per_second"] for f in fills])
    if rows[0]["tool"] == "collect+aws-s3-sync":
        out["collect_seconds"] = median([r["phases"]["collect"]["seconds"] for r in rows])
        out["sync_seconds"] = median([r["phases"]["sync"]["seconds"] for r in rows])
    return out


def scenario_label(scenario: str, row: dict[str, Any]) -> str:
    """The scenario's name; live100k's with the number of old objects that run put in the live prefix."""
    return SCENARIO_NAMES[scenario].format(objects=row.get("live_objects", 100_000))


def megabytes(value: float) -> str:
    return f"{value / 1e6:.1f}"


def ops_text(by_operation: dict[str, float]) -> str:
    short = {"PutObject": "PUT", "GetObject": "GET", "HeadObject": "HEAD", "HeadBucket": "HEADb"}
    return ", ".join(f"{short.get(k, k)} {v:g}" for k, v in sorted(by_operation.items(), key=lambda i: -i[1]))


def corpus_table(corpus: str, latency: int, sums: Sums) -> list[str]:
    lines = [f"### {corpus} at {latency} ms per request: {CORPUS_NAMES.get(corpus, corpus)}", ""]
    lines += [
        "| scenario | tool | runs | wall s (median) | × ours | S3 requests by operation | MB up | MB down"
        " | Lambda s (CPU s) | Lambda requests | Lambda peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scenario in SCENARIO_NAMES:
        ours = sums.get((corpus, "static-deploy", scenario, latency))
        for tool in TOOLS:
            row = sums.get((corpus, tool, scenario, latency))
            if row:
                lines.append(table_row(scenario, tool, row, ours))
    return [*lines, ""]


def table_row(scenario: str, tool: str, row: dict[str, Any], ours: dict[str, Any] | None) -> str:
    ratio = "" if tool == "static-deploy" or not ours else f"{row['seconds'] / ours['seconds']:.1f}×"
    extra = ["", "", ""]
    if "lambda_seconds" in row:
        extra = [
            f"{row['lambda_seconds']:.2f} ({row['lambda_cpu']:.2f})",
            f"{row['lambda_requests']:g}",
            f"{row['lambda_rss_mb']:.0f}",
        ]
    seconds = f"{row['seconds']:.2f}"
    if "collect_seconds" in row:
        seconds += f" ({row['collect_seconds']:.1f} collect + {row['sync_seconds']:.1f} sync)"
    if "build_seconds" in row:
        seconds += f" ({row['build_seconds']:.1f} build + {row['lambda_seconds']:.1f} Lambda)"
    name = tool + (
        f" ({'delta build' + (', build cache' if row.get('cache') else '')})" if row.get("delta") else ""
    )
    return (
        f"| {scenario_label(scenario, row)} | {name} | {row['runs']} | {seconds} | {ratio} | "
        f"{ops_text(row['by_operation'])} | {megabytes(row['bytes_up'])} | "
        f"{megabytes(row['bytes_down'])} | " + " | ".join(extra) + " |"
    )


def split_table(corpus: str, sums: Sums) -> list[str]:
    """static-deploy's build seconds by phase (`build_tool package --json`'s "timings")."""
    rows = [
        (key, row["timings"])
        for key, row in sorted(sums.items())
        if key[0] == corpus and key[1] == "static-deploy" and row.get("timings")
    ]
    if not rows:
        return []
    lines = [
        f'Build-side split, {corpus} (`build_tool package --json` "timings", medians, seconds):',
        "",
        "| scenario | ms | " + " | ".join(PHASES) + " | exit | build (wall) | plain collect, same run |",
        "| --- | --- |" + " --- |" * (len(PHASES) + 3),
    ]
    for scenario in SCENARIO_NAMES:
        for key, timings in rows:
            if key[2] == scenario:
                row = sums[key]
                cells = " | ".join(f"{timings[p]:.2f}" for p in PHASES)
                cells += f" | {row.get('build_seconds', float('nan')) - sum(timings.values()):.2f}"
                plain = f"{row['plain_collect_seconds']:.2f}" if "plain_collect_seconds" in row else ""
                cells += f" | {row.get('build_seconds', float('nan')):.2f} | {plain}"
                lines.append(f"| {scenario_label(scenario, row)} | {key[3]} | {cells} |")
    return [*lines, ""]


def chart(results: dict[str, Any], sums: Sums, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, curve) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2.2, 1]})
    scenarios = list(SCENARIO_NAMES)
    # The real set when it was run; --quick runs only the example project.
    corpus = "real" if any(key[0] == "real" for key in sums) else "example"
    latency = max(ms for key in sums for ms in [key[3]] if key[0] == corpus)
    tools = [tool for tool in TOOLS if any(k[:2] == (corpus, tool) and k[3] == latency for k in sums)]
    width = 0.8 / max(len(tools), 1)
    for index, tool in enumerate(tools):
        values = [sums.get((corpus, tool, s, latency), {}).get("seconds", 0) for s in scenarios]
        positions = [i + (index - (len(tools) - 1) / 2) * width for i in range(len(scenarios))]
        bars.bar(positions, [v or float("nan") for v in values], width, label=tool)
    bars.set_xticks(range(len(scenarios)))
    short = {"first_plain": "first, no siblings", "nochange": "no change", "onefile": "one file"}
    short |= {"ci_cached": "CI, cache", "ci_nocache": "CI, no cache", "live100k": "live 100k"}
    bars.set_xticklabels([short.get(s, s) for s in scenarios], rotation=15)
    bars.set_yscale("log")
    bars.set_ylabel("wall seconds, end to end (log)")
    title = "Large real set" if corpus == "real" else "Example project"
    bars.set_title(f"{title}, {latency} ms per S3 request")
    bars.legend()
    points = results.get("curve", [])
    if points:
        curve.plot([p["workers"] for p in points], [p["median"] for p in points], marker="o")
        curve.set_xscale("log", base=2)
        curve.set_xlabel("UPLOAD_CONCURRENCY (workers)")
        curve.set_ylabel("Lambda seconds")
        curve.set_title("First deploy of the real set, Lambda only")
        curve.set_ylim(bottom=0)
    else:
        curve.set_axis_off()
        curve.text(0.5, 0.5, "concurrency curve: not run (--no-curve)", ha="center", va="center")
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def machine_line(results: dict[str, Any]) -> str:
    machine, versions = results["machine"], results["versions"]
    load = ", ".join(
        f"{name} {' / '.join(f'{x:.2f}' for x in results[key])}"
        for name, key in (("before", "load_before"), ("after", "load_after"))
        if key in results
    )
    ms = results.get("latencies_ms", [results.get("latency_ms", 20)])
    return (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, {machine['os']}. "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + f". Mode {results['mode']}, {' and '.join(f'{x:g}' for x in ms)} ms per request, "
        f"whole run {results['seconds'] / 60:.0f} min"
        + (f"; load average (1 / 5 / 15 min) {load}" if load else "")
        + "."
    )


def main(argv: list[str] | None = None) -> int:
    from benchmarks.targets import targets

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("--results", type=Path, default=HERE / "results.json")
    parser.add_argument("--readme", type=Path, default=HERE / "README.md", help="its results block rewritten")
    parser.add_argument("--chart", type=Path, default=HERE / "chart.png")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    sums = {key: summary(rows) for key, rows in group(results).items()}
    chart(results, sums, args.chart)
    corpora = [c for c in ("real", "example", "synth10k", "synth100k") if any(k[0] == c for k in sums)]
    generated = [
        *targets(results, sums),
        f"![wall seconds by scenario, and the concurrency curve]({args.chart.name})",
        "",
    ]
    for corpus in corpora:
        for latency in latencies(sums):
            if any(k[0] == corpus and k[3] == latency for k in sums):
                generated += corpus_table(corpus, latency, sums)
        generated += split_table(corpus, sums)
    curve = results.get("curve", [])
    if curve:
        generated += [
            "| UPLOAD_CONCURRENCY | " + " | ".join(str(p["workers"]) for p in curve) + " |",
            "| --- |" + " --- |" * len(curve),
            "| Lambda seconds, first deploy of the real set | "
            + " | ".join(f"{p['median']:.2f}" for p in curve)
            + " |",
            "",
        ]
    generated += [machine_line(results), ""]
    readme = args.readme
    text = readme.read_text() if readme.exists() else "<!-- results -->\n<!-- /results -->\n"
    head, _, rest = text.partition("<!-- results -->")
    _, _, tail = rest.partition("<!-- /results -->")
    readme.write_text(head + "<!-- results -->\n" + "\n".join(generated) + "<!-- /results -->" + tail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
