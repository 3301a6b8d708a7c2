"""Incremental builds (issue 6): a build with a cache equals, byte for byte, a full build of the same store,
after every kind of change; the cache only decides how much is rendered again."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from reportgen.cli import main
from reportgen.tracking import TrackingClient
from site_stores import build, same_as_full

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")

RUN_1, RUN_2, RUN_3 = (f"{i:032x}" for i in (1, 2, 3))


@pytest.fixture(autouse=True)
def settled(monkeypatch):
    """Files written a moment ago count as settled: the read cache then vouches for every run (a real
    store's runs were mostly written seconds or days before the build). Without it a test's builds
    would key its runs by content or by what was read depending on whether the 2 s racy margin
    (file_cache.RACY_NS) passed between them: on a loaded machine a reuse count changed."""
    from reportgen.stores import file_cache

    monkeypatch.setattr(file_cache, "RACY_NS", 0)


def test_warm_rebuild_reuses_everything_and_equals_a_full_build(tmp_path, store):
    cache = tmp_path / "cache"
    first = build(store, tmp_path / "site", cache_dir=cache, static_charts=True)
    assert first.reused == 0
    assert (cache / "CACHEDIR.TAG").is_file() and (cache / "index.json").is_file()
    assert any((cache / "templates").iterdir())  # compiled templates, for the next build
    second = build(store, tmp_path / "site", cache_dir=cache, static_charts=True)
    # 6 runs of 'vision' + its folder + the empty experiment's folder
    assert second.reused == 8
    assert second.pages == first.pages
    # linked folders are sized from the cache's records: the same total as walking the site
    from reportgen.site.output import tree_size

    assert second.size_bytes == first.size_bytes == tree_size(tmp_path / "site")
    same_as_full(tmp_path, store, tmp_path / "site", static_charts=True)


@pytest.mark.parametrize("change", ["metric", "tag", "artifact", "delete", "new-run", "meta", "rename-experiment"])
def test_rebuild_after_a_change_equals_a_full_build(tmp_path, store, change):
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    client = TrackingClient(tracking_uri=str(store))
    if change == "metric":
        client.log_metric(RUN_2, "loss", 0.01, step=99, timestamp=1_700_000_999_000)
    elif change == "tag":
        client.set_tag(RUN_3, "reviewed", "yes")
    elif change == "artifact":
        (store / "1" / RUN_1 / "artifacts" / "notes.txt").write_text("hello\nagain\n")
    elif change == "delete":
        client.delete_run(RUN_2)
    elif change == "new-run":
        run = client.create_run("1", run_name="late", start_time=1_700_000_500_000)
        client.log_param(run.info.run_id, "lr", "0.2")
        client.log_metric(run.info.run_id, "loss", 0.5, step=0, timestamp=1_700_000_500_000)
        client.log_metric(run.info.run_id, "loss", 0.4, step=1, timestamp=1_700_000_501_000)
        client.set_terminated(run.info.run_id, end_time=1_700_000_502_000)
    elif change == "meta":
        client.set_terminated(RUN_3, status="FAILED", end_time=1_700_000_900_000)
    elif change == "rename-experiment":
        client.rename_experiment("1", "vision v2")
    result = build(store, tmp_path / "site", cache_dir=cache)
    same_as_full(tmp_path, store, tmp_path / "site")
    if change in ("metric", "tag", "artifact", "meta"):
        # the changed run and the experiment's folder are rendered again; nothing else
        assert result.reused == 6
    if change == "rename-experiment":
        assert result.reused == 1  # only the other experiment's folder: every run page names its experiment


def test_a_changed_parent_renders_its_children_again(tmp_path, store):
    """A child's page shows its parent's name: renaming the parent must not leave a stale link text."""
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    parent = f"{5:032x}"
    TrackingClient(tracking_uri=str(store)).set_tag(parent, "mlflow.runName", "renamed-sweep")
    result = build(store, tmp_path / "site", cache_dir=cache)
    child_page = next((tmp_path / "site" / "r").glob(f"{6:032x}*.html")).read_text(encoding="utf-8")
    assert "renamed-sweep" in child_page
    assert result.reused == 5  # 4 untouched runs + the empty experiment
    same_as_full(tmp_path, store, tmp_path / "site")


def test_options_theme_and_code_are_part_of_the_key(tmp_path, store):
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    assert build(store, tmp_path / "site", cache_dir=cache, max_points=50).reused == 0
    theme = tmp_path / "theme" / "templates"
    theme.mkdir(parents=True)
    (theme / "_footer.html").write_text("<footer>custom footer</footer>\n")
    assert build(store, tmp_path / "site", cache_dir=cache, max_points=50, theme=str(tmp_path / "theme")).reused == 0
    same_as_full(tmp_path, store, tmp_path / "site", max_points=50, theme=str(tmp_path / "theme"))


def test_runs_the_read_cache_vouches_for_are_keyed_without_their_history(tmp_path, store, monkeypatch):
    from reportgen.site.incremental import keys as incremental

    hashed = []
    real = incremental.history_digests
    monkeypatch.setattr(incremental, "history_digests",
                        lambda frame: hashed.append(set(frame["run_id"].unique())) or real(frame))
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    TrackingClient(tracking_uri=str(store)).log_metric(RUN_2, "loss", 0.01, step=99, timestamp=1_700_000_999_000)
    hashed.clear()
    result = build(store, tmp_path / "site", cache_dir=cache)
    assert result.reused == 6 and hashed == []  # every run is keyed by what was read: no points hashed
    same_as_full(tmp_path, store, tmp_path / "site")
    # Nothing changed: no experiment renders, so no history frame is made at all.
    from reportgen.stores._cache_frames import Histories

    made = []
    frame = Histories.frame
    monkeypatch.setattr(Histories, "frame", lambda self, *args, **kw: made.append(1) or frame(self, *args, **kw))
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 8 and made == []


def test_runs_read_while_they_changed_are_keyed_by_content_until_they_change(tmp_path, store, monkeypatch):
    """A run changed just before a build is not vouched for by its files' stats (they may change again
    within the clock's granularity) and is read again next time; both reads key it by its content, and
    so do later builds while its files stay as they are: nothing is rendered twice. Both sites equal a
    full build."""
    from reportgen.stores import file_cache

    cache = tmp_path / "cache"
    monkeypatch.setattr(file_cache, "RACY_NS", 10 ** 18)  # nothing trusted
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 0
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 8  # keyed by content again: same keys
    same_as_full(tmp_path, store, tmp_path / "site")
    monkeypatch.setattr(file_cache, "RACY_NS", 0)  # everything trusted
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 8  # read again: the same content
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 8
    same_as_full(tmp_path, store, tmp_path / "site")


@pytest.mark.parametrize("change", ["--redact", "secret in the environment"])
def test_redaction_rules_are_part_of_the_key(tmp_path, store, monkeypatch, change):
    """Runs are keyed by what was read, before redaction: new rules must render them again."""
    cache = tmp_path / "cache"
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_1, "note", "reach me with tok-9876543")
    build(store, tmp_path / "site", cache_dir=cache)
    options = {}
    if change == "--redact":
        options["redact"] = ["optimizer"]
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-9876543")
    result = build(store, tmp_path / "site", cache_dir=cache, **options)
    assert result.reused == 0
    page = (tmp_path / "site" / "r" / f"{RUN_1}.html").read_text(encoding="utf-8")
    assert ("adam" not in page) if change == "--redact" else ("tok-9876543" not in page)
    same_as_full(tmp_path, store, tmp_path / "site", **options)


def test_a_page_edited_in_the_site_is_not_reused(tmp_path, store):
    """Site and cache share files (hard links): a page changed in place must not come back."""
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    page = next((tmp_path / "site" / "r").glob("*.html"))
    with open(page, "a", encoding="utf-8") as stream:
        stream.write("<!-- edited -->")
    result = build(store, tmp_path / "site", cache_dir=cache)
    assert result.reused == 7
    same_as_full(tmp_path, store, tmp_path / "site")


def test_cached_folders_that_cannot_be_linked_are_rendered(tmp_path, store, monkeypatch):
    """A cached folder that cannot be linked into the site (a full disk, the cache removed meanwhile) is
    rendered instead, and the build says so; the other units are still reused."""
    from reportgen.site.incremental.cache import SiteCache

    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    real_link = SiteCache.link
    calls = []

    def failing_link(self, key, staging, made=None):
        calls.append(key)
        if len(calls) == 3:
            real_link(self, key, staging, made)  # a partial link: the files it made must not be written through
            raise OSError(28, "No space left on device")
        real_link(self, key, staging, made)

    monkeypatch.setattr(SiteCache, "link", failing_link)
    result = build(store, tmp_path / "site", cache_dir=cache)
    assert len(calls) >= 3 and result.reused == len(calls) - 1
    assert any("could not be linked" in note and "No space left on device" in note for note in result.notes)
    same_as_full(tmp_path, store, tmp_path / "site")
    monkeypatch.undo()
    again = build(store, tmp_path / "again", cache_dir=cache)  # the cache's own copies were not touched
    assert again.reused == len(calls)
    same_as_full(tmp_path, store, tmp_path / "again")


def _cached_units(cache: Path) -> set[str]:
    """The keys of the units in the cache folder (a unit's files are units/<key>.<number>)."""
    return {path.name.split(".", 1)[0] for path in (cache / "units").iterdir()}


@pytest.mark.parametrize("damage", ["garbage-index", "missing-unit", "deleted-cache", "wrong-version"])
def test_a_damaged_cache_costs_only_time(tmp_path, store, damage):
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    if damage == "garbage-index":
        (cache / "index.json").write_text("{not json")
    elif damage == "missing-unit":
        victim = next(iter(_cached_units(cache)))
        for path in (cache / "units").glob(f"{victim}.*"):
            path.unlink()
    elif damage == "deleted-cache":
        shutil.rmtree(cache)
    elif damage == "wrong-version":
        index = json.loads((cache / "index.json").read_text())
        index["version"] = -1
        (cache / "index.json").write_text(json.dumps(index))
    result = build(store, tmp_path / "site", cache_dir=cache)
    assert result.reused == (7 if damage == "missing-unit" else 0)
    same_as_full(tmp_path, store, tmp_path / "site")
    if damage == "garbage-index":
        assert any("cache index" in note for note in result.notes)


@pytest.mark.filterwarnings("ignore::reportgen.stores.file_cache.ReadCacheWarning")
def test_an_unwritable_cache_still_builds(tmp_path, store):
    if os.geteuid() == 0:
        cache = tmp_path / "file-not-folder"
        cache.write_text("x")  # even root cannot make folders under a file
    else:
        cache = tmp_path / "ro"
        cache.mkdir()
        cache.chmod(0o500)
    result = build(store, tmp_path / "site", cache_dir=cache / "inner")
    assert result.reused == 0 and result.notes
    same_as_full(tmp_path, store, tmp_path / "site")


def test_units_left_by_a_build_that_died_before_saving_are_replaced(tmp_path, store, monkeypatch):
    from reportgen.site.incremental.cache import SiteCache

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    cache = tmp_path / "cache"
    with monkeypatch.context() as patch:  # the build dies after storing its units, before writing the index
        patch.setattr(SiteCache, "save", killed)
        with pytest.raises(KeyboardInterrupt):
            build(store, tmp_path / "site", cache_dir=cache)
    left = _cached_units(cache)
    assert len(left) == 8 and not (cache / "index.json").exists()
    again = build(store, tmp_path / "site", cache_dir=cache)
    assert again.reused == 0 and _cached_units(cache) == left
    same_as_full(tmp_path, store, tmp_path / "site")
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 8


def test_a_run_read_while_it_changed_is_not_rendered_again_once_its_folder_settles(tmp_path, store, monkeypatch):
    """A run changed within the read cache's racy margin is vouched for by its content, and so is the
    same run read again once its folder is old enough: the build after keys it as the one before did."""
    from reportgen.stores import file_cache

    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_1, "note", "changed")
    with monkeypatch.context() as patch:
        patch.setattr(file_cache, "RACY_NS", 10**18)  # the changed folder is racy: read, not trusted
        assert build(store, tmp_path / "site", cache_dir=cache).reused == 6  # the run and its experiment
    settled = build(store, tmp_path / "site", cache_dir=cache)  # re-read, now trusted: the same content
    assert settled.reused == 8
    same_as_full(tmp_path, store, tmp_path / "site")


def test_stale_units_are_dropped(tmp_path, store):
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    before = _cached_units(cache)
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_1, "note", "changed")
    build(store, tmp_path / "site", cache_dir=cache)
    after = _cached_units(cache)
    assert len(after) == len(before) and len(after - before) == 2  # the run and its experiment, replaced


def test_cli_uses_a_cache_by_default_and_not_with_no_cache(tmp_path, store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    out = runner.invoke(main, ["build", str(store), "-o", "site", "-q", "--no-artifacts"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / ".reportgen-cache" / "CACHEDIR.TAG").is_file()
    assert (tmp_path / ".reportgen-cache" / ".gitignore").read_text().strip().endswith("*")
    again = runner.invoke(main, ["build", str(store), "-o", "site", "--no-artifacts"])
    assert again.exit_code == 0 and "reused from the build cache" in again.output
    shutil.rmtree(tmp_path / ".reportgen-cache")
    plain = runner.invoke(main, ["build", str(store), "-o", "site", "-q", "--no-cache"])
    assert plain.exit_code == 0 and not (tmp_path / ".reportgen-cache").exists()
    assert (tmp_path / "site" / ".nojekyll").is_file()


def test_two_sites_share_one_cache_without_evicting_each_other(tmp_path, store):
    cache = tmp_path / "cache"
    build(store, tmp_path / "all", cache_dir=cache)
    build(store, tmp_path / "vision", cache_dir=cache, experiments=["vision"])
    assert build(store, tmp_path / "all", cache_dir=cache).reused == 8
    assert build(store, tmp_path / "vision", cache_dir=cache, experiments=["vision"]).reused == 7
    shutil.rmtree(tmp_path / "vision")  # a site that is gone no longer holds units in the cache
    build(store, tmp_path / "all", cache_dir=cache, max_points=40)
    index = json.loads((cache / "index.json").read_text())
    assert list(index["sites"]) == [str((tmp_path / "all").resolve())]
    assert len(index["units"]) == 8 == len(_cached_units(cache))


def test_warnings_of_cached_runs_are_still_listed(tmp_path, store):
    """A skipped artifact is a warning of its run's page: a cached page brings its warning back."""
    artifacts = store / "1" / RUN_1 / "artifacts"
    os.symlink("/etc/passwd", artifacts / "passwd")
    cache = tmp_path / "cache"
    first = build(store, tmp_path / "site", cache_dir=cache)
    second = build(store, tmp_path / "site", cache_dir=cache)
    assert second.reused == 8
    assert [str(p) for p in second.problems] == [str(p) for p in first.problems]
    assert any("symlink" in p.message for p in second.problems)
    same_as_full(tmp_path, store, tmp_path / "site")


def test_warnings_of_a_failed_copy_come_back_with_the_cached_page(tmp_path, store, monkeypatch):
    """A file the plan copies but the store cannot read is a warning of its run: the cache replays it."""
    from reportgen.stores.file import FileStore

    (store / "1" / RUN_1 / "artifacts" / "flaky.txt").write_text("x")
    real = FileStore.open_artifact

    def failing(self, run_id, path):
        if path == "flaky.txt":
            raise OSError("disk went away")
        return real(self, run_id, path)

    monkeypatch.setattr(FileStore, "open_artifact", failing)
    cache = tmp_path / "cache"
    first = build(store, tmp_path / "site", cache_dir=cache)
    second = build(store, tmp_path / "site", cache_dir=cache)
    assert second.reused == 8
    assert any("flaky.txt" in p.path and "disk went away" in p.message for p in first.problems)
    assert [str(p) for p in second.problems] == [str(p) for p in first.problems]


def test_a_site_size_limit_that_bites_still_reuses_units(tmp_path, store):
    """The copies under --max-site-size are planned while gathering, in the site's run order: a rebuild
    reuses every unit and makes the same site."""
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache, max_site_size=100)
    result = build(store, tmp_path / "site", cache_dir=cache, max_site_size=100)
    assert result.budget_hit and result.reused == 8
    same_as_full(tmp_path, store, tmp_path / "site", max_site_size=100)
    roomy = build(store, tmp_path / "site", cache_dir=cache)
    assert not roomy.budget_hit and build(store, tmp_path / "site", cache_dir=cache).reused == 8


def test_a_new_artifact_over_the_site_size_limit_renders_its_run_again(tmp_path, store):
    cache = tmp_path / "cache"
    assert not build(store, tmp_path / "site", cache_dir=cache, max_site_size=4000).budget_hit
    (store / "1" / RUN_2 / "artifacts").mkdir(parents=True, exist_ok=True)
    (store / "1" / RUN_2 / "artifacts" / "big.txt").write_text("x" * 5000)
    result = build(store, tmp_path / "site", cache_dir=cache, max_site_size=4000)
    assert result.budget_hit and result.reused == 6  # its run and its experiment's pages are rendered
    same_as_full(tmp_path, store, tmp_path / "site", max_site_size=4000)


def test_static_images_of_unchanged_charts_come_from_the_cache(tmp_path, store, monkeypatch):
    from reportgen.site.static_images import ImageMaker

    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache, static_charts=True)
    assert any((cache / "images").glob("*.svg"))
    drawn: list[int] = []
    original = ImageMaker._draw_all
    monkeypatch.setattr(ImageMaker, "_draw_all", lambda self, specs: drawn.append(len(specs)) or original(self, specs))
    # A tag changes the runs table (the experiment's folder renders again) but none of its charts.
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_3, "reviewed", "yes")
    result = build(store, tmp_path / "site", cache_dir=cache, static_charts=True)
    assert result.reused == 6 and sum(drawn) == 0
    same_as_full(tmp_path, store, tmp_path / "site", static_charts=True)


def test_images_of_a_reused_experiment_stay_in_the_cache(tmp_path, store, monkeypatch):
    """A build that reuses an experiment's folder keeps its images in the cache: when a later build
    renders that experiment again with the same charts, nothing is drawn."""
    from reportgen.site.static_images import ImageMaker

    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache, static_charts=True)
    images = sorted(p.name for p in (cache / "images").glob("*.svg"))
    build(store, tmp_path / "site", cache_dir=cache, static_charts=True)  # everything reused
    assert sorted(p.name for p in (cache / "images").glob("*.svg")) == images
    drawn: list[int] = []
    original = ImageMaker._draw_all
    monkeypatch.setattr(ImageMaker, "_draw_all", lambda self, specs: drawn.append(len(specs)) or original(self, specs))
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_3, "reviewed", "yes")
    assert build(store, tmp_path / "site", cache_dir=cache, static_charts=True).reused == 6 and sum(drawn) == 0


def test_forked_incremental_build_equals_a_serial_full_build(tmp_path, store):
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache, workers=2)
    TrackingClient(tracking_uri=str(store)).log_metric(RUN_1, "loss", 0.5, step=50, timestamp=1_700_000_050_000)
    result = build(store, tmp_path / "site", cache_dir=cache, workers=2)
    assert result.reused == 6
    same_as_full(tmp_path, store, tmp_path / "site", workers=1)


def test_a_new_ci_token_in_the_environment_does_not_discard_the_cache(tmp_path, store, monkeypatch):
    """Each CI job has a token of its own: its value is hidden in what renders, but is no part of the cache
    key, else no page would ever be reused from one job to the next."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "job-1-token-abcdef")
    build(store, tmp_path / "site", cache_dir=cache)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "job-2-token-ghijkl")
    assert build(store, tmp_path / "site", cache_dir=cache).reused == 8  # every run and experiment
