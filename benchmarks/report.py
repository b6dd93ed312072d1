"""Turn benchmarks/results.json into benchmarks/README.md and benchmarks/chart.png (run by run.py)."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOOLS = ("static-deploy", "collect+aws-s3-sync", "django-storages")
SCENARIO_NAMES = {
    "first": "first deploy (empty bucket)",
    "nochange": "no change",
    "onefile": "one file changed",
    "ci_cached": "fresh CI checkout, one file changed, build cache restored",
    "ci_nocache": "fresh CI checkout, one file changed, no build cache",
}
CORPUS_NAMES = {
    "real": "large real set: Django admin, DRF, debug toolbar, jazzmin, import-export, "
    "drf-spectacular-sidecar, tinymce, and a small site of the project's own",
    "example": "the example project",
    "synth10k": "synthetic, 10,000 files (20% CSS with url() references, 10% JS, 70% images)",
    "synth100k": "synthetic, 100,000 files, about 1 GB (same mix)",
}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def group(results: dict[str, Any]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in results["scenarios"]:
        groups[row["corpus"], row["tool"], row["scenario"]].append(row)
    return groups


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
        builds = [r["phases"]["build"]["seconds"] for r in rows if "build" in r["phases"]]
        if builds:
            out["build_seconds"] = median(builds)
    if rows[0]["tool"] == "collect+aws-s3-sync":
        out["collect_seconds"] = median([r["phases"]["collect"]["seconds"] for r in rows])
        out["sync_seconds"] = median([r["phases"]["sync"]["seconds"] for r in rows])
    return out


def megabytes(value: float) -> str:
    return f"{value / 1e6:.1f}"


def ops_text(by_operation: dict[str, float]) -> str:
    short = {"PutObject": "PUT", "GetObject": "GET", "HeadObject": "HEAD", "HeadBucket": "HEADb"}
    return ", ".join(f"{short.get(k, k)} {v:g}" for k, v in sorted(by_operation.items(), key=lambda i: -i[1]))


def corpus_table(corpus: str, sums: dict[tuple[str, str, str], dict[str, Any]]) -> list[str]:
    lines = [f"### {corpus}: {CORPUS_NAMES.get(corpus, corpus)}", ""]
    lines += [
        "| scenario | tool | runs | wall s (median) | × ours | S3 requests by operation | MB up | MB down"
        " | Lambda s (CPU s) | Lambda requests | Lambda peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for scenario in SCENARIO_NAMES:
        ours = sums.get((corpus, "static-deploy", scenario))
        for tool in TOOLS:
            row = sums.get((corpus, tool, scenario))
            if not row:
                continue
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
            lines.append(
                f"| {SCENARIO_NAMES[scenario]} | {tool} | {row['runs']} | {seconds} | {ratio} | "
                f"{ops_text(row['by_operation'])} | {megabytes(row['bytes_up'])} | "
                f"{megabytes(row['bytes_down'])} | " + " | ".join(extra) + " |"
            )
    return [*lines, ""]


def chart(results: dict[str, Any], sums: dict[tuple[str, str, str], dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (bars, curve) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [2.2, 1]})
    scenarios = list(SCENARIO_NAMES)
    width = 0.27
    # The real set when it was run; --quick runs only the example project.
    corpus = "real" if any(key[0] == "real" for key in sums) else "example"
    for index, tool in enumerate(TOOLS):
        values = [sums.get((corpus, tool, s), {}).get("seconds", 0) for s in scenarios]
        positions = [i + (index - 1) * width for i in range(len(scenarios))]
        bars.bar(positions, [v or float("nan") for v in values], width, label=tool)
    bars.set_xticks(range(len(scenarios)))
    bars.set_xticklabels(["first", "no change", "one file", "CI, cache", "CI, no cache"])
    bars.set_yscale("log")
    bars.set_ylabel("wall seconds, end to end (log)")
    title = "Large real set" if corpus == "real" else "Example project"
    bars.set_title(f"{title}, {results['latency_ms']:g} ms per S3 request")
    bars.legend()
    points = results.get("curve", [])
    if points:
        curve.plot([p["workers"] for p in points], [p["median"] for p in points], marker="o")
        curve.set_xscale("log", base=2)
        curve.set_xlabel("UPLOAD_CONCURRENCY (workers)")
        curve.set_ylabel("Lambda seconds")
        curve.set_title("First deploy of the real set, Lambda only")
        curve.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def targets(results: dict[str, Any], sums: dict[tuple[str, str, str], dict[str, Any]]) -> list[str]:
    """Each target of the issue, the figure that measured it, met or not."""
    rows = []
    nochange = {c: s for (c, t, sc), s in sums.items() if t == "static-deploy" and sc == "nochange"}
    worst = max(nochange.values(), key=lambda s: s["lambda_requests"]) if nochange else None
    if worst:
        text = ", ".join(f"{c} {s['lambda_requests']:g}" for c, s in sorted(nochange.items()))
        rows.append(
            ("no-change redeploy: at most 5 S3 requests, any size", text, worst["lambda_requests"] <= 5)
        )
    changes = [
        (c, sc, s["lambda_requests"] - s["files_uploaded"], s["files_uploaded"])
        for (c, t, sc), s in sums.items()
        if t == "static-deploy" and sc in ("onefile", "ci_cached", "ci_nocache")
    ]
    if changes:
        text = ", ".join(f"{c} {sc}: k={k:g}, k+{extra:g}" for c, sc, extra, k in sorted(changes))
        rows.append(
            ("a change of k files: at most k + 6 requests", text, max(e for _, _, e, _ in changes) <= 6)
        )
    for corpus in ("example", "real", "synth10k"):
        ours, peer = (
            sums.get((corpus, "static-deploy", "first")),
            sums.get((corpus, "collect+aws-s3-sync", "first")),
        )
        if ours and peer:
            ratio = peer["sync_seconds"] / ours["lambda_seconds"]
            text = f"aws s3 sync {peer['sync_seconds']:.1f} s, Lambda {ours['lambda_seconds']:.1f} s"
            text += f": {ratio:.1f}×"
            rows.append(
                (f"first deploy upload phase ≥ 3× faster than aws s3 sync ({corpus})", text, ratio >= 3)
            )
    big = {sc: s for (c, t, sc), s in sums.items() if c == "synth100k"}
    if big:
        rss = max(s.get("lambda_rss_mb", 0) for s in big.values())
        rows.append(
            (
                "peak RSS ≤ 256 MB, 1 GB / 100,000-file artifact",
                f"{rss:.0f} MB (max over scenarios)",
                rss <= 256,
            )
        )
        if "nochange" in big:
            seconds = big["nochange"]["lambda_seconds"]
            rows.append(("its no-change redeploy ≤ 10 s", f"{seconds:.2f} s", seconds <= 10))
    for item in results.get("build_ratio", []):
        text = (
            f"{item['corpus']}: package {median(item['package_warm_cache']):.2f} s vs collect "
            f"{median(item['plain_collect']):.2f} s: {item['ratio']:.2f}×"
        )
        rows.append(
            (
                f"build_tool package, cache restored ≤ 1.2 × plain collect ({item['corpus']})",
                text,
                item["ratio"] <= 1.2,
            )
        )
    ours = sums.get(("real", "static-deploy", "ci_cached"))
    for peer, goal in (("django-storages", 20), ("collect+aws-s3-sync", 5)):
        theirs = sums.get(("real", peer, "ci_cached"))
        if ours and theirs:
            ratio = theirs["seconds"] / ours["seconds"]
            text = f"{theirs['seconds']:.1f} s vs {ours['seconds']:.2f} s: {ratio:.1f}×"
            rows.append(
                (
                    f"end to end, real set, CI checkout + cache, one file: ≥ {goal}× faster than {peer}",
                    text,
                    ratio >= goal,
                )
            )
    lines = ["| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {name} | {text} | {'yes' if met else '**no**'} |" for name, text, met in rows]
    return [*lines, ""]


def main() -> int:
    results = json.loads((HERE / "results.json").read_text())
    sums = {key: summary(rows) for key, rows in group(results).items()}
    chart(results, sums, HERE / "chart.png")
    corpora = [c for c in ("real", "example", "synth10k", "synth100k") if any(k[0] == c for k in sums)]
    generated = [
        *targets(results, sums),
        "![wall seconds by scenario, and the concurrency curve](chart.png)",
        "",
    ]
    for corpus in corpora:
        generated += corpus_table(corpus, sums)
    curve = results.get("curve", [])
    if curve:
        generated += [
            "| UPLOAD_CONCURRENCY | 4 | 8 | 16 | 32 | 64 | 128 |",
            "| --- |" + " --- |" * len(curve),
        ]
        generated.append(
            "| Lambda seconds, first deploy of the real set | "
            + " | ".join(f"{p['median']:.2f}" for p in curve)
            + " |"
        )
        generated.append("")
    machine, versions = results["machine"], results["versions"]
    generated += [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB, {machine['os']}. "
        + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + f". Mode {results['mode']}, {results['latency_ms']:g} ms per request, "
        f"whole run {results['seconds'] / 60:.0f} min.",
        "",
    ]
    readme = HERE / "README.md"
    text = readme.read_text() if readme.exists() else "<!-- results -->\n<!-- /results -->\n"
    head, _, rest = text.partition("<!-- results -->")
    _, _, tail = rest.partition("<!-- /results -->")
    readme.write_text(head + "<!-- results -->\n" + "\n".join(generated) + "<!-- /results -->" + tail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
