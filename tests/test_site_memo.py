"""The memo of incremental builds (site.memo): a big experiment whose pages are rendered again takes the
chart specs and table rows of its unchanged runs from the last build; the site stays byte for byte a
full build's."""
from __future__ import annotations

import shutil

import pytest

from reportgen import charts
from reportgen.site import chartslots, exports
from reportgen.site.memo import Memo
from reportgen.site.runs_rows import RowWriter
from reportgen.tracking import TrackingClient
from site_stores import build, same_as_full, tree_digest

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")

RUN_4 = f"{4:032x}"  # lr0.01-s2: the worst loss and accuracy of 'vision'


class Calls:
    """Counts the history charts of the experiment page, the seed bands and the rows made."""

    def __init__(self, monkeypatch):
        self.history, self.seeds, self.rows, self.exported = [], 0, 0, 0
        history_chart, seed_band_chart, rows = charts.history_chart, charts.seed_band_chart, RowWriter.rows
        pieces, fit, self.fitted = RowWriter.pieces, RowWriter.fit, 0

        def count_history(frame, **options):
            self.history.append(options["title"] + (" (run page)" if options.get("height") == 180 else ""))
            return history_chart(frame, **options)

        def count_seeds(*args, **options):
            self.seeds += 1
            return seed_band_chart(*args, **options)

        def count_rows(writer, items, summaries):
            self.rows += len(items)
            return rows(writer, items, summaries)

        def count_pieces(writer, items, summaries):  # rows made for the memo
            self.rows += len(items)
            return pieces(writer, items, summaries)

        def count_fitted(writer, items, old, summaries):  # rows of the memo fitted to other columns
            self.fitted += len(items)
            return fit(writer, items, old, summaries)

        export_pieces = exports.export_pieces

        def count_exported(header, rows):
            self.exported += len(rows)
            return export_pieces(header, rows)

        monkeypatch.setattr(exports, "export_pieces", count_exported)
        monkeypatch.setattr(charts, "history_chart", count_history)
        monkeypatch.setattr(charts, "seed_band_chart", count_seeds)
        monkeypatch.setattr(RowWriter, "rows", count_rows)
        monkeypatch.setattr(RowWriter, "pieces", count_pieces)
        monkeypatch.setattr(RowWriter, "fit", count_fitted)

    def clear(self):
        self.history, self.seeds, self.rows, self.exported, self.fitted = [], 0, 0, 0, 0


def test_charts_and_rows_of_unchanged_runs_come_from_the_last_build(tmp_path, store, monkeypatch):
    monkeypatch.setattr(chartslots, "MAX_RUNS_PER_CHART", 2)  # run 4 is in no history chart
    calls = Calls(monkeypatch)
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    best = [title for title in calls.history if "(best 2 runs)" in title]
    assert sorted(best) == ["accuracy (best 2 runs)", "loss (best 2 runs)"] and calls.seeds == 1 and calls.rows == 6
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_4, "team", "nlp")
    calls.clear()
    build(store, tmp_path / "site", cache_dir=cache)
    assert [title for title in calls.history if "(best 2 runs)" in title] == []  # their runs did not change
    assert calls.seeds == 1  # run 4 is in a seed group: that chart is drawn again
    assert calls.rows == 1  # only run 4's row
    assert [title for title in calls.history if "(run page)" in title] == []  # its page's charts: from templates
    assert calls.exported == 1  # and its export lines
    same_as_full(tmp_path, store, tmp_path / "site")


def test_a_change_to_a_charted_run_draws_its_charts_again(tmp_path, store, monkeypatch):
    monkeypatch.setattr(chartslots, "MAX_RUNS_PER_CHART", 2)
    calls = Calls(monkeypatch)
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    client = TrackingClient(tracking_uri=str(store))
    best_loss = f"{1:032x}"  # lr0.1-s1
    client.log_metric(best_loss, "loss", 0.001, step=20, timestamp=1_700_000_999_000)
    calls.clear()
    build(store, tmp_path / "site", cache_dir=cache)
    assert "loss (best 2 runs)" in calls.history and calls.rows == 1
    same_as_full(tmp_path, store, tmp_path / "site")


def test_other_options_do_not_share_a_memo(tmp_path, store, monkeypatch):
    calls = Calls(monkeypatch)
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache, max_points=300)
    calls.clear()
    build(store, tmp_path / "site", cache_dir=cache, max_points=400)
    assert calls.rows == 6 and calls.history  # everything made again
    shutil.rmtree(tmp_path / "full", ignore_errors=True)
    build(store, tmp_path / "full", max_points=400)
    assert tree_digest(tmp_path / "site") == tree_digest(tmp_path / "full")


@pytest.mark.parametrize("damage", ["garbage", "empty", "gone"])
def test_a_damaged_memo_costs_only_time(tmp_path, store, damage):
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    assert sorted(m.name for m in (cache / "memo").iterdir()) == ["e_1", "e_2", "run-charts.pickle"]
    files = sorted((cache / "memo" / "e_1").iterdir()) + [cache / "memo" / "run-charts.pickle"]
    # the build key, a file per chart spec, the table's rows (by the first digit of their keys)
    assert {"build", "rows-first.pickle", "rows-first.keys"} < {f.name for f in files} and len(files) > 6
    assert any(f.name.startswith("rows-") and len(f.name) == len("rows-0.pickle") for f in files)
    for path in files:
        if damage == "gone":
            path.unlink()
        else:
            path.write_bytes(b"\x80\x05not a pickle" if damage == "garbage" else b"")
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_4, "team", "nlp")
    build(store, tmp_path / "site", cache_dir=cache)
    same_as_full(tmp_path, store, tmp_path / "site")
    if damage == "garbage":  # the damaged specs were written again, readable
        import pickle

        for path in (cache / "memo" / "e_1").glob("*.pickle"):
            assert isinstance(pickle.loads(path.read_bytes()), (dict, type(None))), path.name


def test_the_memo_of_a_removed_experiment_is_dropped(tmp_path, store):
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    assert (cache / "memo" / "e_2").is_dir()
    shutil.rmtree(store / "2")
    build(store, tmp_path / "site", cache_dir=cache)
    assert sorted(m.name for m in (cache / "memo").iterdir()) == ["e_1", "run-charts.pickle"]


def test_only_the_specs_in_use_stay(tmp_path, store, monkeypatch):
    monkeypatch.setattr(chartslots, "MAX_RUNS_PER_CHART", 2)
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    before = {f.name for f in (cache / "memo" / "e_1").iterdir()}
    TrackingClient(tracking_uri=str(store)).log_metric(f"{1:032x}", "loss", 0.001, step=20,
                                                       timestamp=1_700_000_999_000)
    build(store, tmp_path / "site", cache_dir=cache)
    after = {f.name for f in (cache / "memo" / "e_1").iterdir()}
    assert before - after and after - before and len(after) == len(before)  # the loss chart's spec replaced


def test_memo_keys_cover_the_runs_and_an_exception_keeps_nothing():
    old = Memo("build", {"a": "key-a1", "b": "key-b"})
    assert old.get(lambda: "made", "chart", runs=["a"]) == "made"
    changed = Memo("build", {"a": "key-a2", "b": "key-b"}, old.new)
    assert changed.get(lambda: "again", "chart", runs=["a"]) == "again"  # run a changed
    same = Memo("build", {"a": "key-a1", "b": "key-b"}, old.new)
    assert same.get(lambda: "again", "chart", runs=["a"]) == "made"
    assert same.get(lambda: "other", "other chart", runs=["a"]) == "other"

    def fails():
        raise ValueError("odd series")

    with pytest.raises(ValueError):
        same.get(fails, "bad chart")
    assert len(same.new) == 2
    keys = [same.key("row", runs=[run]) for run in "ab"]
    made = []
    assert same.get_many(keys, lambda missing: made.extend(missing) or ["row"] * len(missing)) == ["row", "row"]
    assert made == [0, 1]
    assert Memo().get(lambda: 1, "anything") == 1 and not Memo().active


def test_summaries_of_cached_runs_lost_from_the_cache_are_made_again(tmp_path, store):
    """A new column makes every row again, with the metric summaries of the cached runs (kept beside
    their pages in the cache); where those are gone they come from the runs' histories."""
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    asides = list((cache / "units").glob("*/aside.json"))
    assert len(asides) == 6
    for path in asides[:3]:
        path.unlink()
    asides[3].write_bytes(b"{not json")
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_4, "new_column", "x")
    build(store, tmp_path / "site", cache_dir=cache)
    same_as_full(tmp_path, store, tmp_path / "site")


def test_rows_remembered_for_other_columns_are_fitted_not_made_again(tmp_path, store, monkeypatch):
    """A key new to one run adds a column to the table: the other runs' rows keep their cells and get the
    new column's; a metric they do not have shows empty cells without their summaries being read."""
    from reportgen.site.cache import SiteCache

    calls = Calls(monkeypatch)
    cache = tmp_path / "cache"
    client = TrackingClient(tracking_uri=str(store))
    build(store, tmp_path / "site", cache_dir=cache)
    asides = []
    real_aside = SiteCache.aside
    monkeypatch.setattr(SiteCache, "aside", lambda self, key: asides.append(key) or real_aside(self, key))
    client.set_tag(RUN_4, "reviewed", "yes")
    client.log_metric(RUN_4, "f1", 0.5, step=3, timestamp=1_700_000_999_000)
    calls.clear()
    build(store, tmp_path / "site", cache_dir=cache)
    assert (calls.rows, calls.fitted) == (1, 5)  # run 4's row made, the 5 others fitted
    assert asides == []  # no other run has f1: their summaries were not needed
    same_as_full(tmp_path, store, tmp_path / "site")
    calls.clear()
    build(store, tmp_path / "site", cache_dir=cache)  # the fitted rows were remembered as fitted
    assert (calls.rows, calls.fitted) == (0, 0)
    # A new run whose value makes a constant param vary: that column's cells change class in every row.
    assert 'class="rg-const"' in (tmp_path / "site" / "e" / "1" / "index.html").read_text()  # optimizer: adam
    run = client.create_run("1", run_name="lr0.1-sgd")
    client.log_param(run.info.run_id, "optimizer", "sgd")
    client.log_metric(run.info.run_id, "loss", 0.3, step=1, timestamp=1_700_000_999_000)
    client.set_terminated(run.info.run_id)
    calls.clear()
    build(store, tmp_path / "site", cache_dir=cache)
    assert (calls.rows, calls.fitted) == (1, 6)
    assert 'class="rg-const"' not in (tmp_path / "site" / "e" / "1" / "index.html").read_text()
    same_as_full(tmp_path, store, tmp_path / "site")


def test_a_change_to_one_run_rewrites_only_the_files_of_its_rows(tmp_path, store, monkeypatch):
    """The rows are kept in 16 files by the first digit of their keys: one run changed rewrites the files of
    its row and its export lines (and the first page's, which it is on), and the next build finds them all."""
    calls = Calls(monkeypatch)
    cache = tmp_path / "cache"
    build(store, tmp_path / "site", cache_dir=cache)
    memo = cache / "memo" / "e_1"

    def files():
        return {path.name: path.stat().st_ino for path in memo.glob("rows-*")}

    before = files()
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_4, "team", "nlp")
    build(store, tmp_path / "site", cache_dir=cache)
    after = files()
    rewritten = sorted(name for name in after if after[name] != before.get(name))
    shards = [name for name in rewritten if name not in ("rows-first.pickle", "rows-first.keys")]
    # Its row and export lines, under new keys (a key digests what it shows): the files of the two old keys
    # and of the two new ones, at most 4 of the 16.
    assert 1 <= len(shards) <= 4 < len(after) - 2
    assert "rows-first.pickle" in rewritten  # the first page holds run 4's row (one page)
    calls.clear()
    TrackingClient(tracking_uri=str(store)).set_tag(RUN_4, "team", "speech")
    build(store, tmp_path / "site", cache_dir=cache)
    assert calls.rows <= 1  # run 4's row: the rest were found
    same_as_full(tmp_path, store, tmp_path / "site")
