"""Generate the benchmark stores of issue 3 under bench/stores/ (cached; gitignored).

    A: 2 experiments x 100 runs x 5 metrics x 1000 steps  (1M points)
    B: 2 experiments x 1000 runs x 10 metrics x 100 steps (2M points)
and the growth stores of issue 18 (bench/bench_growth.py; file stores only, made when named):
    G2000:  1 experiment  x 2000 runs x 10 metrics x 100 steps (2M points, ~0.3 GB)
    G5000:  1 experiment  x 5000 runs x 10 metrics x 100 steps (5M points, ~0.7 GB)
    G20000: 4 experiments x 5000 runs x 10 metrics x 100 steps (20M points, ~2.7 GB)
(experiments of at most 5,000 runs: the 20,000-run store is four of the 5,000-run one's experiment).
Each run has 10 params and 5 user tags (plus MLflow's system tags). File stores are written directly
with reportgen.mlruns' formats (seconds, not the minutes MLflow's client takes); the SQLite copies are
made by MLflow itself (`mlflow migrate-filestore`), so they hold exactly what MLflow would write.

    python bench/make_stores.py [--stores A B G2000 G5000 G20000] [--no-sqlite] [--force]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reportgen import mlruns  # noqa: E402
from reportgen.model import Experiment, RunInfo  # noqa: E402
from reportgen.uri import path_to_file_uri  # noqa: E402

STORES_DIR = Path(__file__).resolve().parent / "stores"
SHAPES = {  # name: (experiments, runs per experiment, metrics, steps)
    "A": (2, 100, 5, 1000),
    "B": (2, 1000, 10, 100),
    "G2000": (1, 2000, 10, 100),
    "G5000": (1, 5000, 10, 100),
    "G20000": (4, 5000, 10, 100),
}
DEFAULT_STORES = ["A", "B"]
GROWTH = ["G2000", "G5000", "G20000"]  # file stores only: MLflow's migration of 20,000 runs takes hours
N_PARAMS = 10
N_TAGS = 5
T0 = 1_700_000_000_000


def _write(path: Path | str, text: str) -> None:
    # os.open rather than Path.write_text: the 20,000-run store is 600k files.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


def _meta(path: Path, data: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    _write(path / mlruns.META_FILE, mlruns.dump_meta(data))


def make_file_store(root: Path, shape: tuple[int, int, int, int], *, seed: int = 0) -> None:
    n_exp, n_runs, n_metrics, n_steps = shape
    rng = np.random.default_rng(seed)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / mlruns.TRASH_DIR).mkdir()
    default = Experiment("0", "Default", path_to_file_uri(root / "0"), creation_time=T0, last_update_time=T0)
    _meta(root / "0", mlruns.experiment_to_meta(default))
    steps = np.arange(n_steps)
    for e in range(n_exp):
        exp_id = str(100_000_000_000_000_000 + e * 7919)
        exp_dir = root / exp_id
        experiment = Experiment(exp_id, f"bench-{e}", path_to_file_uri(exp_dir), creation_time=T0, last_update_time=T0)
        _meta(exp_dir, mlruns.experiment_to_meta(experiment))
        for r in range(n_runs):
            run_id = f"{rng.integers(0, 2**63):016x}{rng.integers(0, 2**63):016x}"[:32]
            run_dir = exp_dir / run_id
            start = T0 + (e * n_runs + r) * 1000
            info = RunInfo(
                run_id=run_id, experiment_id=exp_id, run_name=f"run-{e}-{r}", user_id="bench",
                status="FINISHED", start_time=start, end_time=start + n_steps * 10,
                artifact_uri=path_to_file_uri(run_dir / "artifacts"),
            )
            _meta(run_dir, mlruns.run_to_meta(info))
            for folder in ("artifacts", "params", "tags", "metrics"):
                (run_dir / folder).mkdir()
            for p in range(N_PARAMS):
                _write(run_dir / "params" / f"param_{p}", str(round(float(rng.random()), 4)))
            tags = {f"tag_{t}": f"value-{rng.integers(0, 5)}" for t in range(N_TAGS)}
            tags.update({"mlflow.runName": info.run_name, "mlflow.user": "bench",
                         "mlflow.source.type": "LOCAL", "mlflow.source.name": "train.py"})
            for key, value in tags.items():
                _write(run_dir / "tags" / key, value)
            stamps = start + steps * 10
            for m in range(n_metrics):
                values = np.cumsum(rng.standard_normal(n_steps)) * 0.1 + m
                # "{t} {v!r} {s}\n" per point, as MLflow writes it, without a Python loop per point
                lines = "".join(map("{} {} {}\n".format, stamps.tolist(), map(repr, values.tolist()), steps.tolist()))
                _write(run_dir / "metrics" / f"metric_{m}", lines)


def make_sqlite(file_store: Path, target: Path) -> None:
    if target.exists():
        target.unlink()
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    subprocess.run(
        ["mlflow", "migrate-filestore", "--source", str(file_store), "--target", f"sqlite:///{target}",
         "--no-progress"],
        check=True, env=env, stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", nargs="+", default=DEFAULT_STORES, choices=list(SHAPES))
    parser.add_argument("--no-sqlite", action="store_true", help="only the file stores")
    parser.add_argument("--force", action="store_true", help="regenerate even when cached")
    args = parser.parse_args()
    STORES_DIR.mkdir(exist_ok=True)
    for name in args.stores:
        file_store = STORES_DIR / f"{name}-mlruns"
        if args.force or not (file_store / "0" / mlruns.META_FILE).exists():
            began = time.perf_counter()
            make_file_store(file_store, SHAPES[name])
            print(f"{file_store}: written in {time.perf_counter() - began:.1f} s")
        else:
            print(f"{file_store}: cached")
        if args.no_sqlite or name in GROWTH:
            continue
        db = STORES_DIR / f"{name}.db"
        if args.force or not db.exists():
            began = time.perf_counter()
            make_sqlite(file_store, db)
            print(f"{db}: migrated by MLflow in {time.perf_counter() - began:.1f} s")
        else:
            print(f"{db}: cached")


if __name__ == "__main__":
    main()
