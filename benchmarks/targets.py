"""The issue's targets, each with the figure of this run that measures it and whether it is met."""

from __future__ import annotations

from typing import Any

from benchmarks.report import Sums, median

Row = tuple[str, str, str]  # target, measured, met ("yes", "**no**", "not measured")
HEADLINE = ("onefile", "nochange", "ci_nocache")  # the scenarios the Collectfasta target names
NAMES = {"onefile": "one file changed", "nochange": "no change", "ci_nocache": "fresh CI checkout, no cache"}
PEER_GOAL = {20: 20, 50: 50}  # ms per request: how many times faster than django-storages


def verdict(met: bool) -> str:
    return "yes" if met else "**no**"


def headline_corpus(sums: Sums) -> str:
    return "real" if any(key[0] == "real" for key in sums) else "example"


def cold_start(results: dict[str, Any]) -> list[Row]:
    measured = results.get("cold_start")
    if not measured:
        return [("handler cold start ≤ 0.4 s (`python -X importtime -c 'import app'`)", "", "not measured")]
    packages = ", ".join(f"{k} {v:.0f}" for k, v in list(measured["by_package_ms"].items())[:4])
    text = (
        f"import app {measured['import_app_ms']:.0f} ms median of {measured['runs']} "
        f"(fastest {measured['import_app_min_ms']:.0f}; own ms by package: {packages}), tracing off"
    )
    return [
        (
            "handler cold start ≤ 0.4 s (`python -X importtime`)",
            text,
            verdict(measured["import_app_ms"] <= 400),
        )
    ]


def versus_collectfasta(sums: Sums, corpus: str) -> list[Row]:
    rows = []
    for latency in sorted({key[3] for key in sums}):
        for scenario in HEADLINE:
            ours = sums.get((corpus, "static-deploy", scenario, latency))
            theirs = sums.get((corpus, "collectfasta", scenario, latency))
            if not (ours and theirs):
                continue
            ratio = ours["seconds"] / theirs["seconds"]
            text = (
                f"ours {ours['seconds']:.2f} s ({ours['requests']:g} requests) vs Collectfasta "
                f"{theirs['seconds']:.2f} s ({theirs['requests']:g}): {ratio:.2f}×"
            )
            name = f"{corpus}, {NAMES[scenario]}, {latency} ms: ≤ 0.8 × Collectfasta's wall time"
            rows.append((name, text, verdict(ratio <= 0.8)))
    return rows


def versus_django_storages(sums: Sums, corpus: str) -> list[Row]:
    rows = []
    for latency in sorted({key[3] for key in sums}):
        goal = PEER_GOAL.get(latency)
        for scenario in HEADLINE + ("ci_cached",):
            ours = sums.get((corpus, "static-deploy", scenario, latency))
            theirs = sums.get((corpus, "django-storages", scenario, latency))
            if goal and ours and not theirs and scenario in HEADLINE:
                name = f"{corpus}, {NAMES[scenario]}, {latency} ms: ≥ {goal}× django-storages"
                rows.append(
                    (
                        name,
                        "django-storages not run at this latency (about 3 minutes a scenario)",
                        "not measured",
                    )
                )
            if goal and ours and theirs:
                ratio = theirs["seconds"] / ours["seconds"]
                text = f"{theirs['seconds']:.1f} s vs ours {ours['seconds']:.2f} s: {ratio:.1f}×"
                name = f"{corpus}, {NAMES.get(scenario, scenario)}, {latency} ms: ≥ {goal}× django-storages"
                rows.append((name, text, verdict(ratio >= goal)))
    return rows


def requests(sums: Sums) -> list[Row]:
    rows = []
    ours = {k: s for k, s in sums.items() if k[1] == "static-deploy" and "lambda_requests" in s}
    nochange = {k: s for k, s in ours.items() if k[2] == "nochange"}
    if nochange:
        text = ", ".join(f"{k[0]} {k[3]} ms: {s['lambda_requests']:g}" for k, s in sorted(nochange.items()))
        worst = max(s["lambda_requests"] for s in nochange.values())
        rows.append(("no-change redeploy: at most 5 Lambda requests, any size", text, verdict(worst <= 5)))
    changes = [
        (k, s["lambda_requests"] - s["files_uploaded"], s["files_uploaded"])
        for k, s in sorted(ours.items())
        if k[2] in ("onefile", "ci_cached", "ci_nocache")
    ]
    if changes:
        text = ", ".join(f"{k[0]} {k[2]} {k[3]} ms: k={n:g}, k+{extra:g}" for k, extra, n in changes)
        worst = max(extra for _, extra, _ in changes)
        rows.append(("a change of k files: at most k + 6 Lambda requests", text, verdict(worst <= 6)))
    return rows


def bytes_up(sums: Sums, corpus: str) -> list[Row]:
    """CI's upload (the build phase's bytes) for a change against a first deploy's, at one latency."""
    rows = []
    latency = min((key[3] for key in sums), default=20)
    first = sums.get((corpus, "static-deploy", "first", latency))
    for scenario in ("onefile", "ci_nocache"):
        change = sums.get((corpus, "static-deploy", scenario, latency))
        if first and change and "build_bytes_up" in change:
            share = change["build_bytes_up"] / max(first["build_bytes_up"], 1)
            how = "delta build" if change.get("delta") else "full artifact, build cache kept"
            text = (
                f"{change['build_bytes_up'] / 1e6:.2f} MB up from CI ({how}) vs "
                f"{first['build_bytes_up'] / 1e6:.1f} MB for the first deploy ({share:.1%})"
            )
            rows.append(
                (
                    f"{corpus}, {NAMES[scenario]}: CI's upload in proportion to the change",
                    text,
                    verdict(share <= 0.1),
                )
            )
    return rows


def delta_ratio(results: dict[str, Any], sums: Sums, corpus: str) -> list[Row]:
    """The fresh-CI build (a delta of the live release, no local cache) against a plain collect."""
    plain = next(
        (median(i["plain_collect"]) for i in results.get("build_ratio", []) if i["corpus"] == corpus), None
    )
    rows = []
    for key, row in sorted(sums.items()):
        if key[:3] == (corpus, "static-deploy", "ci_nocache") and plain and "build_seconds" in row:
            how = "delta build" if row.get("delta") else "full build"
            ratio = row["build_seconds"] / plain
            text = f"{how} {row['build_seconds']:.2f} s (staging included) vs collect {plain:.2f} s"
            text += f": {ratio:.2f}×"
            name = f"{corpus}, fresh CI checkout, {key[3]} ms: build ≤ 1.2 × plain ManifestStaticFilesStorage"
            rows.append((name, text, verdict(ratio <= 1.2)))
    return rows


def build_ratio(results: dict[str, Any]) -> list[Row]:
    rows = []
    for item in results.get("build_ratio", []):
        plain = median(item["plain_collect"])
        if "package_no_cache" in item:
            cold = median(item["package_no_cache"])
            text = f"package {cold:.2f} s vs collect {plain:.2f} s: {item['ratio_no_cache']:.2f}×"
            name = f"{item['corpus']}: full build (no --live-bucket), no local cache ≤ 1.2 × plain collect"
            rows.append((name, text, verdict(item["ratio_no_cache"] <= 1.2)))
        warm = median(item["package_warm_cache"])
        text = f"package {warm:.2f} s vs collect {plain:.2f} s: {item['ratio']:.2f}×"
        name = f"{item['corpus']}: build, cache restored ≤ 1.2 × plain ManifestStaticFilesStorage"
        rows.append((name, text, verdict(item["ratio"] <= 1.2)))
    return rows


def targets(results: dict[str, Any], sums: Sums) -> list[str]:
    """The targets table, headline corpus first."""
    corpus = headline_corpus(sums)
    rows = [
        *versus_collectfasta(sums, corpus),
        *versus_django_storages(sums, corpus),
        *cold_start(results),
        *requests(sums),
        *bytes_up(sums, corpus),
        *delta_ratio(results, sums, corpus),
        *build_ratio(results),
        (
            "≥ 3× faster than Collectfasta with 100,000 objects already in the live bucket",
            "no scenario with a 100,000-object live bucket in this harness yet",
            "not measured",
        ),
    ]
    lines = ["| target | measured | met |", "| --- | --- | --- |"]
    return [*lines, *(f"| {name} | {text} | {met} |" for name, text, met in rows), ""]
