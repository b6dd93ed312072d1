"""Brotli qualities and gzip levels measured on a collected static set: seconds, bytes, siblings.

    python -m benchmarks.compression [--root STATIC_ROOT] [--runs 3] [--brotli 4-11] [--gzip 6,9]
                                     [--slow 10,11] [--slow-runs 1]

Without `--root` it collects the "real" corpus (benchmarks/corpora.py; the static packages pinned in
benchmarks/requirements.txt must be importable, as in benchmarks/.work/venv) with Django's plain
ManifestStaticFilesStorage into benchmarks/.work/compression/static. Every distinct content whitenoise
would compress (the build compresses each once, however many names it has) is compressed at each level,
one after the other in this process: CPU seconds (what a core spends on it; a busy machine disturbs it
less than wall time) and wall seconds, medians over the runs (qualities 10 and 11, a minute of CPU each
on the real set, run --slow-runs times), the levels interleaved within each run so a change in the
machine's load falls on all alike; progress goes to stderr. Bytes are the sum of the outputs; "vs best"
compares them with the smallest brotli measured. A second table counts, over every collected name (what
a first deploy uploads), the siblings the build keeps at its levels for each minimum size.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from whitenoise.compress import Compressor

from build_tool.build.cache import BROTLI_QUALITY, GZIP_LEVEL, compress_brotli, compress_gzip
from build_tool.build.compress import MIN_SIBLING_SIZE, keeps_sibling

from . import corpora

HERE = Path(__file__).resolve().parent
PLAIN_STORAGE = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
MIN_SIZES = (0, 512, 1000, 1400, 4096)


def collect_real(work: Path) -> Path:
    """The real corpus collected without siblings (a plain manifest storage)."""
    corpus = corpora.real(work)
    root = work / "compression" / "static"
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": corpus.settings_module,
        "BENCH_STORAGE": PLAIN_STORAGE,
        "BENCH_STATIC_ROOT": str(root),
        "PYTHONPATH": os.pathsep.join([str(corpus.project), os.environ.get("PYTHONPATH", "")]),
    }
    command = [sys.executable, "-m", "django", "collectstatic", "--noinput", "--clear", "-v", "0"]
    subprocess.run(command, cwd=corpus.project, env=env, check=True)
    return root


def collected(root: Path) -> dict[str, bytes]:
    """Every collected file whitenoise would compress, by name (siblings already there are skipped)."""
    compressor = Compressor(quiet=True)
    files = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name != "staticfiles.json" and compressor.should_compress(name):
            files[name] = path.read_bytes()
    return files


def encoders(qualities: Sequence[int], levels: Sequence[int]) -> dict[str, Callable[[bytes], bytes]]:
    found: dict[str, Callable[[bytes], bytes]] = {}
    for quality in qualities:
        found[f"brotli {quality}"] = partial(compress_brotli, quality=quality)
    for level in levels:
        found[f"gzip {level}"] = partial(compress_gzip, level=level)
    return found


def measure(contents: Sequence[bytes], encode: Callable[[bytes], bytes]) -> tuple[float, float, list[int]]:
    """(CPU seconds, wall seconds, each output's size) of one pass over `contents`."""
    cpu, wall = time.process_time(), time.perf_counter()
    sizes = [len(encode(data)) for data in contents]
    return time.process_time() - cpu, time.perf_counter() - wall, sizes


Samples = dict[str, list[tuple[float, float, list[int]]]]


def measure_all(
    contents: Sequence[bytes], found: dict[str, Callable[[bytes], bytes]], runs: int, slow: dict[str, int]
) -> Samples:
    """Every encoder `runs` times (a `slow` one as many times as it says), interleaved run by run."""
    samples: Samples = {name: [] for name in found}
    for run in range(runs):
        for name, encode in found.items():
            if run < slow.get(name, runs):
                samples[name].append(measure(contents, encode))
                cpu, wall, _ = samples[name][-1]
                print(f"run {run}: {name}: {cpu:.2f} s CPU, {wall:.2f} s wall", file=sys.stderr, flush=True)
    return samples


def level_table(contents: Sequence[bytes], samples: Samples) -> list[str]:
    total = sum(map(len, contents))
    best = min(sum(s[0][2]) for name, s in samples.items() if name.startswith("brotli"))
    rows = [
        "| encoder | runs | CPU s (median) | wall s (median) | output MB | ratio | vs best br | CPU MB/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs_of in samples.items():
        cpu = statistics.median(s[0] for s in runs_of)
        wall = statistics.median(s[1] for s in runs_of)
        size = sum(runs_of[0][2])
        rows.append(
            f"| {name} | {len(runs_of)} | {cpu:.2f} | {wall:.2f} | {size / 1e6:.2f} | {size / total:.3f} | "
            f"{(size / best - 1) * 100:+.1f}% | {total / 1e6 / max(cpu, 1e-9):.1f} |"
        )
    return rows


def sibling_table(files: dict[str, bytes], contents: Sequence[bytes], samples: Samples) -> list[str]:
    """Siblings kept at the build's levels for each minimum size, over every collected name."""
    sizes = {}
    for name, encode in (("brotli", compress_brotli), ("gzip", compress_gzip)):
        level = BROTLI_QUALITY if name == "brotli" else GZIP_LEVEL
        measured = samples.get(f"{name} {level}")
        sizes[name] = measured[0][2] if measured else [len(encode(data)) for data in contents]
    index = {hashlib.sha256(data).digest(): n for n, data in enumerate(contents)}
    rows = [
        f"| min size (bytes) | names with siblings (of {len(files)}) | .br | .gz | bytes a br viewer saves |",
        "| --- | --- | --- | --- | --- |",
    ]
    for minimum in MIN_SIZES:
        names = br = gz = saved = 0
        for data in files.values():
            n = index[hashlib.sha256(data).digest()]
            keep_br = keeps_sibling(len(data), sizes["brotli"][n], minimum)
            keep_gz = keep_br and keeps_sibling(len(data), sizes["gzip"][n], minimum)  # no .br, no .gz
            names, br, gz = names + (keep_br or keep_gz), br + keep_br, gz + keep_gz
            saved += len(data) - sizes["brotli"][n] if keep_br else 0
        mark = " (the build's)" if minimum == MIN_SIBLING_SIZE else ""
        rows.append(f"| {minimum}{mark} | {names} | {br} | {gz} | {saved / 1e6:.3f} MB |")
    return rows


def parse_levels(text: str) -> list[int]:
    levels: list[int] = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        levels.extend(range(int(low), int(high or low) + 1))
    return levels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, help="a collected STATIC_ROOT (default: collect the real corpus)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--brotli", default="4-11", help="qualities, e.g. 4-11 or 5,11")
    parser.add_argument("--gzip", default="6,9", help="levels")
    parser.add_argument("--slow", default="10,11", help="brotli qualities measured --slow-runs times")
    parser.add_argument("--slow-runs", type=int, default=1, help="(each takes about a minute of CPU)")
    args = parser.parse_args(argv)
    root = args.root or collect_real(HERE / ".work")
    files = collected(root)
    contents = list({hashlib.sha256(data).digest(): data for data in files.values()}.values())
    total = sum(map(len, contents))
    print(f"{root}: {len(files)} names to compress, {len(contents)} distinct contents, {total / 1e6:.2f} MB")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; one core")
    found = encoders(parse_levels(args.brotli), parse_levels(args.gzip))
    slow = {f"brotli {quality}": args.slow_runs for quality in parse_levels(args.slow)}
    samples = measure_all(contents, found, args.runs, slow)
    print("\n".join(level_table(contents, samples)))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    levels = f"brotli {BROTLI_QUALITY}, gzip {GZIP_LEVEL}"
    print(f"\nsiblings at the build's levels ({levels}), each kept when at least 5% smaller:")
    print("\n".join(sibling_table(files, contents, samples)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
