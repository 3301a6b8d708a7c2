"""site.artifacts.plan: which artifact files a site copies is decided while gathering, in the site's run
order, so every build of the same store makes the same copies whatever renders where."""
from __future__ import annotations

from reportgen.model import FileInfo
from reportgen.site.artifacts.plan import OVER_SITE_LIMIT, TOO_LARGE, Budget, compare_images, plan_run


class _Store:
    def __init__(self, files: dict[str, dict[str, int | None]]) -> None:
        self.files = files  # run_id -> path -> size

    def walk_artifacts(self, run_id, *, max_files):
        return [FileInfo(path, False, size) for path, size in self.files[run_id].items()]


def _plan(store, budget, problems):
    return {run_id: plan_run(store, run_id, budget, lambda p, m: problems.append((p, m))) for run_id in store.files}


def test_copies_fit_the_budget_in_run_order_and_later_runs_follow_earlier_ones():
    store = _Store({"a": {"m.png": 60}, "b": {"n.png": 50, "small.txt": 10}})
    problems: list = []
    plans = _plan(store, Budget(per_file=1000, remaining=100), problems)
    assert [(f.path, f.copy, f.note) for f in plans["b"]] == [("n.png", False, OVER_SITE_LIMIT), ("small.txt", True, "")]
    assert [p for p, _ in problems] == ["run b artifact 'n.png'"]
    store.files["a"]["m.png"] = 40  # the earlier run takes less: the later one's copy now fits
    assert all(f.copy for f in _plan(store, Budget(per_file=1000, remaining=100), [])["b"])


def test_per_file_limit_and_unknown_sizes():
    store = _Store({"a": {"big.bin": 2000, "unknown.txt": None, "ok.txt": 5}})
    budget = Budget(per_file=1000, remaining=1500)
    plan = {f.path: f for f in plan_run(store, "a", budget, lambda p, m: None)}
    assert plan["big.bin"].note == TOO_LARGE and not plan["big.bin"].copy
    assert plan["unknown.txt"].copy and plan["ok.txt"].copy
    assert budget.remaining == 1500 - 1000 - 5  # an unknown size counts as the per-file limit
    assert not budget.hit


def test_hidden_and_deep_paths_are_left_out_with_a_problem():
    store = _Store({"a": {".env": 3, "x/.git/config": 3, "/".join(["d"] * 20) + "/f.txt": 3, "ok.txt": 3}})
    problems: list = []
    plan = plan_run(store, "a", Budget(per_file=100, remaining=100), lambda p, m: problems.append(m))
    assert [f.path for f in plan] == ["ok.txt"]
    assert len(problems) == 3


def test_compare_images_are_copied_non_empty_images_in_tree_order():
    store = _Store({"a": {"z.png": 3, "plots/b.png": 3, "plots/a.jpg": 3, "empty.png": 0, "notes.txt": 3,
                          "huge.png": 10_000}})
    plan = plan_run(store, "a", Budget(per_file=100, remaining=1000), lambda p, m: None)
    assert compare_images(plan) == ["plots/a.jpg", "plots/b.png", "z.png"]
