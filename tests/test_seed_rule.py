"""One analysis layer: `reportgen summary` and the site agree on seed groups, params that vary and the
run tree, because both call reportgen.analysis (and the site's seed chart calls rollups.seed_groups)."""
from __future__ import annotations

import json
import re

import pytest

from mlruns_builder import experiment, run
from reportgen import analysis, rollups
from reportgen.aggregate import param_summary, varying_params as frame_varying
from reportgen.publish.summary import build_summary
from reportgen.site import build_site
from reportgen.site.pages.chart_slots import seed_groups as site_seed_groups
from reportgen.site.pages.common import run_tree as site_run_tree, varying_params as site_varying
from reportgen.stores import open_store

SEED_NAMES = ("seed", "random_state", "torch_seed")


def _loss(offset: float) -> dict:
    return {"loss": [(1000 + step, offset + 1.0 / (step + 1), step) for step in range(4)]}


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    """One experiment per seed name: lr 0.1 and 0.01 repeated over three seeds, lr 1.0 once; and one
    experiment where `seed` and `torch_seed` both vary, with a run lacking `torch_seed`."""
    root = tmp_path_factory.mktemp("seeds") / "mlruns"
    index = 0
    for number, name in enumerate(SEED_NAMES, 1):
        folder = experiment(root, str(number), f"exp-{name}")
        for lr in ("0.1", "0.01"):
            for seed in range(3):
                index += 1
                run(folder, index, params={"lr": lr, name: str(seed), "opt": "adam"}, metrics=_loss(seed / 10))
        index += 1
        run(folder, index, params={"lr": "1.0", name: "0", "opt": "adam"}, metrics=_loss(0))
    folder = experiment(root, "9", "exp-two-seeds")
    for seed in range(3):
        index += 1
        run(folder, index, params={"lr": "0.1", "seed": str(seed), "torch_seed": str(seed + 7)}, metrics=_loss(seed))
    index += 1
    run(folder, index, params={"lr": "0.1", "seed": "5"}, metrics=_loss(0.5))
    return root


def _site_chart_groups(site, exp_name: str) -> tuple[str, set[str]] | None:
    """(title, group labels) of the seed chart on an experiment's page of a built site."""
    for page in site.glob("e/*/index.html"):
        text = page.read_text(encoding="utf-8")
        if f"<title>{exp_name}" not in text and f">{exp_name}<" not in text:
            continue
        for spec_text in re.findall(r'<script type="application/json" id="rg-spec-chart-\d+">(.*?)</script>', text):
            spec = json.loads(spec_text)
            title = json.dumps(spec.get("title", ""), ensure_ascii=False)
            if "mean ± std over" in title:
                return title, {row["g"] for row in _rows(spec) if "m" in row}
        return None
    raise AssertionError(f"no page for {exp_name}")


def _rows(node):
    """Every data row (a dict with a "g" group field) anywhere in a spec."""
    if isinstance(node, dict):
        if "g" in node:
            yield node
        for value in node.values():
            yield from _rows(value)
    elif isinstance(node, list):
        for value in node:
            yield from _rows(value)


def test_seed_names_are_one_rule():
    assert {"seed", "random_state", "torch_seed", "random_seed", "rng_seed"} <= analysis.SEED_PARAMS
    assert rollups.SEED_PARAMS is analysis.SEED_PARAMS
    assert analysis.is_seed("trainer/torch_seed") and analysis.is_seed("cfg.Random_State")
    assert not analysis.is_seed("seeds") and not analysis.is_seed("lr")


def test_summary_and_site_make_the_same_seed_groups(seeded_store, tmp_path):
    with open_store(str(seeded_store)) as store:
        summary = {exp.name: exp for exp in build_summary(store).experiments}
        runs = {exp.name: store.get_runs([exp.experiment_id]) for exp in store.search_experiments()}
    site = tmp_path / "site"
    build_site([str(seeded_store)], site, static_charts=False)
    for name in [f"exp-{n}" for n in SEED_NAMES] + ["exp-two-seeds"]:
        from_summary = {frozenset(group.run_ids) for group in summary[name].seed_groups}
        seed, groups = site_seed_groups(runs[name])
        assert from_summary and from_summary == {frozenset(r.info.run_id for r in members)
                                                 for members in groups.values()}, name
        labels = {", ".join(f"{k}={v}" for k, v in group.params.items()) or "all runs"
                  for group in summary[name].seed_groups}
        title, shown = _site_chart_groups(site, name)
        assert shown == labels == set(groups), name
        seeds = [key for key in summary[name].varying_params if analysis.is_seed(key)]
        assert seed == ", ".join(seeds) and f"over {seed}" in title
    # Two groups of three repeats per seed name; lr 1.0 ran once, so it is no group.
    assert len(summary["exp-random_state"].seed_groups) == 2
    assert all(len(group.run_ids) == 3 for group in summary["exp-torch_seed"].seed_groups)
    # Both seed params vary: all four runs repeat lr 0.1, the one without torch_seed included.
    assert [len(group.run_ids) for group in summary["exp-two-seeds"].seed_groups] == [4]


def test_params_that_vary_are_one_rule(seeded_store):
    with open_store(str(seeded_store)) as store:
        for exp in store.search_experiments():
            runs = store.get_runs([exp.experiment_id])
            varying, constant = site_varying(runs)
            assert varying == sorted(frame_varying(runs))
            summary = param_summary(runs).set_index("key")
            assert constant == sorted(summary.index[~summary["varies"]])
    # A param one run lacks does not vary on either side; two values do.
    lacking = [_Run("a", None, {"x": "1", "y": "1"}), _Run("b", None, {"y": "2"})]
    assert site_varying(lacking) == (["y"], ["x"]) and frame_varying([_as_store_run(r) for r in lacking]) == ["y"]


class _Info:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.experiment_id = "1"


class _Data:
    def __init__(self, params: dict[str, str]) -> None:
        self.params = params


class _Run:
    def __init__(self, run_id: str, parent: str | None, params: dict[str, str] | None = None) -> None:
        self.info = _Info(run_id)
        self.parent_run_id = parent
        self.data = _Data(params or {})


@pytest.mark.parametrize("links", [
    [("a", None), ("b", "a"), ("c", "a"), ("d", "b"), ("e", None), ("f", "missing")],
    [("a", "c"), ("b", "a"), ("c", "b"), ("d", None), ("e", "e")],  # a cycle, and a run its own parent
    [("c", "b"), ("b", "a"), ("a", None), ("z", "c")],  # children before their parents
])
def test_run_tree_is_one_order(links):
    runs = [_Run(run_id, parent) for run_id, parent in links]
    tree = rollups.run_tree(rollups.as_runs_frame([_as_store_run(r) for r in runs]))
    site = site_run_tree(runs)
    assert [r.info.run_id for r, _ in site] == list(tree["run_id"])
    assert [depth for _, depth in site] == list(tree["depth"])


def _as_store_run(run: _Run):
    from reportgen.model import Run, RunData, RunInfo

    tags = {"mlflow.parentRunId": run.parent_run_id} if run.parent_run_id else {}
    return Run(RunInfo(run.info.run_id, "1", run.info.run_id, "u", "FINISHED", 1, 2, "", "active", None),
               RunData(metrics={}, params=dict(run.data.params), tags=tags))
