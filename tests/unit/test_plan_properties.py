"""Properties of the plan over random releases and live states (hypothesis): it uploads exactly the
files whose bytes the live bucket lacks, and after it runs every file of the release is in place."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from staticsync.model.contract import ReleaseRecord, ReleaseView, format_timestamp
from staticsync.model.plan import Intent, LiveState, Plan, make_plan

# Few names and few contents, so that random releases share, change and drop files often.
NAMES = ["app.css", "app.js", "logo.png", "robots.txt", "admin/base.css", "fonts/a.woff2"]
CONTENTS = ["", "a", "b", "c"]


def digest(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def hashed(name: str, content: str) -> str:
    stem, _, extension = name.rpartition(".")
    return f"{stem}.{hashlib.md5(content.encode()).hexdigest()[:12]}.{extension}"


@st.composite
def releases(draw: st.DrawFn, release: str = "new") -> tuple[ReleaseRecord, bytes, dict[str, str]]:
    """A release as collectstatic makes it: originals, their hashed copies, some .gz siblings."""
    originals = draw(st.dictionaries(st.sampled_from(NAMES), st.sampled_from(CONTENTS), max_size=len(NAMES)))
    manifest = {name: hashed(name, content) for name, content in originals.items()}
    files = {**originals, **{manifest[name]: content for name, content in originals.items()}}
    for path in draw(st.sets(st.sampled_from(sorted(files)))) if files else ():
        files[path + ".gz"] = "gz:" + files[path]
    manifest_bytes = json.dumps({"paths": manifest, "version": "1.1"}).encode()
    moment = draw(st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)))
    record = ReleaseRecord(
        release=release,
        created_at=format_timestamp(moment),
        files={path: digest(content) for path, content in files.items()},
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
    )
    return record, manifest_bytes, manifest


def plan(release: tuple[ReleaseRecord, bytes, dict[str, str]], live: LiveState) -> Plan:
    record, manifest_bytes, _ = release
    now = datetime(2027, 1, 1, tzinfo=UTC)
    return make_plan(ReleaseView.of(record, manifest_bytes), live, Intent("s3://a/k", now), (".releases/",))


def live_of(release: tuple[ReleaseRecord, bytes, dict[str, str]], *, with_record: bool = True) -> LiveState:
    record, manifest_bytes, manifest = release
    return LiveState(manifest_bytes, '"etag"', record.release, record if with_record else None, manifest)


def applied(bucket: dict[str, str], record: ReleaseRecord, uploads: tuple[str, ...]) -> dict[str, str]:
    """The bucket (path -> SHA-256) after the plan's uploads."""
    return {**bucket, **{path: record.files[path] for path in uploads}}


@given(new=releases(), old=releases("old"))
@settings(max_examples=300)
def test_with_the_live_record_exactly_the_changed_files_are_uploaded(new: tuple, old: tuple) -> None:
    record, manifest_bytes, _ = new
    live = live_of(old)

    made = plan(new, live)

    old_files = old[0].files
    assert set(made.uploads) == {p for p, d in record.files.items() if old_files.get(p) != d}
    assert set(made.unchanged) == set(record.files) - set(made.uploads)
    assert not set(made.immutable) & set(made.mutable)
    assert (made.cutover is not None) == (bool(made.uploads) or manifest_bytes != old[1])
    assert made.cutover is None or made.cutover.if_match == live.etag


@given(new=releases(), old=releases("old"))
@settings(max_examples=300)
def test_after_the_plan_runs_every_file_of_the_release_is_in_place(new: tuple, old: tuple) -> None:
    record, _, manifest = new

    made = plan(new, live_of(old))

    bucket = applied(old[0].files, record, made.uploads)
    assert all(bucket[path] == sha for path, sha in record.files.items())
    assert all(hashed in bucket for hashed in manifest.values())
    # Content-addressed names are only ever added: none of the live ones changes its bytes.
    assert all(bucket[p] == old[0].files[p] for p in made.immutable if p in old[0].files)


@given(new=releases())
def test_before_the_first_deploy_everything_is_uploaded(new: tuple) -> None:
    record = new[0]

    made = plan(new, LiveState())

    assert made.uploads == tuple(sorted(record.files))
    assert made.cutover is not None and made.cutover.if_match is None


@given(new=releases())
def test_planning_the_live_release_again_uploads_nothing_and_does_not_cut_over(new: tuple) -> None:
    made = plan(new, live_of(new))

    assert made.uploads == () and made.cutover is None


@given(new=releases(), old=releases("old"))
@settings(max_examples=300)
def test_without_a_live_record_only_shared_hashed_names_are_skipped(new: tuple, old: tuple) -> None:
    """A bucket filled by collectstatic: only content-addressed names are known to hold the bytes."""
    record, _, manifest = new

    made = plan(new, live_of(old, with_record=False))

    skipped = set(record.files) - set(made.uploads)
    hashed_names = {value for name, value in manifest.items() if value != name}
    assert skipped <= hashed_names & set(old[2].values())
    # A shared hashed name holds the same bytes in both releases: its name is its content's hash.
    assert all(old[0].files[path] == record.files[path] for path in skipped)


@given(new=releases())
def test_the_plan_is_a_pure_function_of_its_inputs(new: tuple) -> None:
    live = live_of(new, with_record=False)

    assert plan(new, live) == plan(new, live)
