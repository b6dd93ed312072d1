"""Release ids in CI: only tracked changes make a tree dirty, and the README's recipe is reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_tool.build.release import detect
from tests.inprocess import COMPRESSIBLE_CSS, cli, git, git_project


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return git_project(tmp_path / "origin")


def test_untracked_files_do_not_make_the_tree_dirty(repo: Path) -> None:
    (repo / ".static-cache" / "v1").mkdir(parents=True)
    (repo / ".static-cache" / "v1" / "entry.br").write_bytes(b"x")
    (repo / "stray.log").write_text("x")
    info = detect(repo, None, environ={})
    assert info.release == git(repo, "rev-parse", "HEAD")[:12]


def test_a_changed_tracked_file_does(repo: Path) -> None:
    (repo / "assets" / "robots.txt").write_text("changed\n")
    info = detect(repo, None, environ={})
    assert info.release.startswith(git(repo, "rev-parse", "HEAD")[:12] + "-")


def test_the_cache_folder_never_counts_even_when_someone_committed_it(repo: Path) -> None:
    (repo / "cache").mkdir()
    (repo / "cache" / "entry").write_text("old")
    git(repo, "add", "cache")
    git(repo, "commit", "-q", "-m", "oops")
    (repo / "cache" / "entry").write_text("restored by the CI cache step")
    assert "-" in detect(repo, None, environ={}).release
    assert "-" not in detect(repo, None, environ={}, ignore=(Path("cache"),)).release


def test_detect_returns_the_first_parent_ancestry_without_head(repo: Path, tmp_path: Path) -> None:
    info = detect(repo, None, environ={})
    chain = git(repo, "rev-list", "--first-parent", "HEAD").split()
    assert chain[0] == info.source_commit and info.ancestry == tuple(chain[1:])
    assert len(info.ancestry) == 1
    (tmp_path / "nogit").mkdir()
    assert detect(tmp_path / "nogit", "r1", environ={}).ancestry == ()


def test_the_readme_ci_recipe_twice_in_a_fresh_clone_gives_the_same_bytes(repo: Path, tmp_path: Path) -> None:
    # actions/checkout or GitLab's clone, then: build_tool package --settings ... --cache-dir .static-cache
    (repo / "assets" / "site.css").write_text(COMPRESSIBLE_CSS)  # something for the cache to hold
    git(repo, "add", "assets/site.css")
    git(repo, "commit", "-q", "-m", "three", when="2026-01-02T00:00:00Z")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))
    records = []
    for run in ("first", "second"):  # the second with the first's cache restored into the checkout
        out = tmp_path / f"{run}.zip"
        args = ["package", "--settings", "touchysettings", "--cache-dir", ".static-cache"]
        done = cli([*args, "--output", str(out), "--json"], tmp_path, cwd=checkout, SOURCE_DATE_EPOCH="")
        assert done.returncode == 0, done.stderr
        records.append(json.loads(done.stdout))
    assert (checkout / ".static-cache").is_dir() and git(checkout, "status", "--porcelain") != ""
    commit = git(checkout, "rev-parse", "HEAD")
    assert [r["release"] for r in records] == [commit[:12]] * 2
    assert records[0]["created_at"] == "2026-01-02T00:00:00Z"
    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
    assert records[1]["compressed"] == 0 and records[1]["compressed_from_cache"] > 0


def test_a_change_anywhere_in_the_repository_counts_not_only_under_the_project_dir(repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "elsewhere.txt").write_text("one")
    git(repo, "add", "elsewhere.txt")
    git(repo, "commit", "-q", "-m", "three")
    (repo / "elsewhere.txt").write_text("two")
    assert "-" in detect(repo / "sub", None, environ={}).release
