"""Regenerate the committed demo store sample_mlruns/ with reportgen.tracking, deterministically.

    python examples/make_sample_mlruns.py                 # rewrites ./sample_mlruns
    python examples/make_sample_mlruns.py --output DIR    # anywhere else (DIR is replaced)

Two runs give byte-identical trees (same library versions), because:
- the clock, run ids, experiment ids and run names come from reportgen.tracking._env, which is
  monkeypatched here: a fake clock starting at STORE_EPOCH_MS that advances by fixed amounts per call
  (plus simulated epoch durations), ids and names from a random.Random seeded with SEED;
- the models use fixed seeds and BLAS runs single-threaded (no thread-count-dependent rounding);
- the user is "reportgen" and the source name "examples/make_sample_mlruns.py", whoever runs it;
- the store is written in a temporary folder and then post-processed: the absolute file: URIs of that
  folder in meta.yaml (artifact_location, artifact_uri, as MLflow writes them) are rewritten to the fixed
  CANONICAL_ROOT, and git tags (mlflow.source.git.*) are dropped so the store does not change with every
  commit. The URIs are therefore stale wherever the store lives: reportgen's reader maps a stale
  artifact URI to <store>/<experiment>/<run>/artifacts. Pass --keep-paths to keep the real URIs of
  --output (for reading the artifacts with real MLflow; the tree is then no longer portable).
The scikit-learn, numpy, matplotlib and Python versions used are kept in the Default experiment's tag
reportgen.sample.versions: other versions may round floats or encode PNGs differently.
"""
from __future__ import annotations

import os

# Single-threaded BLAS before numpy loads: reductions then round the same way on every machine.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from random import Random  # noqa: E402

import reportgen.tracking as mlflow  # noqa: E402
from reportgen import mlruns  # noqa: E402
from reportgen.tracking import _env  # noqa: E402
from reportgen.uri import path_to_file_uri  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent
SEED = 20240514
STORE_EPOCH_MS = 1_715_677_200_000  # 2024-05-14 09:00:00 UTC
TICK_MS = 25  # each clock reading advances the fake clock a little, as real calls take time
CANONICAL_ROOT = "file:///tmp/reportgen-sample/mlruns"
SOURCE_NAME = "examples/make_sample_mlruns.py"
USER = "reportgen"
DEFAULT_OUTPUT = EXAMPLES.parent / "sample_mlruns"
GIT_TAG_PREFIX = "mlflow.source.git."


class FakeClock:
    """Milliseconds that advance by TICK_MS per reading, and by more when a step says it took longer."""

    def __init__(self, start_ms: int) -> None:
        self.current = start_ms

    def now_ms(self) -> int:
        self.current += TICK_MS
        return self.current

    def advance(self, ms: int) -> None:
        self.current += ms


class FakeIds:
    """Run ids, experiment ids and run names in MLflow's forms, from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = Random(seed)

    def run_id(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def experiment_id(self) -> str:
        return str(self.rng.randrange(10**17, 10**18))

    def run_name(self) -> str:
        return f"run-{self.rng.randrange(1000):03d}"


def _pin_environment(clock: FakeClock, ids: FakeIds) -> dict:
    """Route reportgen.tracking's clock, ids and user through fixed sources; return what to restore."""
    saved = {
        "now_ms": _env.now_ms, "new_run_id": _env.new_run_id,
        "new_experiment_id": _env.new_experiment_id, "random_run_name": getattr(_env, "random_run_name", None),
        "argv0": sys.argv[0], "environ": dict(os.environ),
    }
    _env.now_ms = clock.now_ms
    _env.new_run_id = ids.run_id
    _env.new_experiment_id = ids.experiment_id
    _env.random_run_name = ids.run_name
    sys.argv[0] = SOURCE_NAME
    # getpass.getuser() reads these first; MLFLOW_TRACKING_USERNAME would override mlflow.user.
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        os.environ[var] = USER
    os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return saved


def _restore_environment(saved: dict) -> None:
    _env.now_ms = saved["now_ms"]
    _env.new_run_id = saved["new_run_id"]
    _env.new_experiment_id = saved["new_experiment_id"]
    if saved["random_run_name"] is not None:
        _env.random_run_name = saved["random_run_name"]
    sys.argv[0] = saved["argv0"]
    os.environ.clear()
    os.environ.update(saved["environ"])


def generate(output: Path, *, keep_paths: bool = False) -> Path:
    """Write the sample store to `output` (replacing a previous one) and return its path."""
    output = Path(output).resolve()
    _check_replaceable(output)
    sys.path.insert(0, str(EXAMPLES))
    import _sample_content as content  # scikit-learn and matplotlib load only once the output is known good

    work = Path(tempfile.mkdtemp(prefix="reportgen-sample-"))
    try:
        root = work / "mlruns"
        _log_store(root, content)
        final_prefix = path_to_file_uri(output) if keep_paths else CANONICAL_ROOT
        _rewrite_artifact_uris(root, path_to_file_uri(root), final_prefix)
        _drop_git_tags(root)
        _check_no_local_path(root, str(work))
        if output.exists():
            shutil.rmtree(output)
        shutil.copytree(root, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output


def _log_store(root: Path, content) -> None:
    """Log everything into `root` with the clock, ids, user and source pinned, then unpin them."""
    clock = FakeClock(STORE_EPOCH_MS)
    previous_uri = mlflow.get_tracking_uri()
    saved = _pin_environment(clock, FakeIds(SEED))
    try:
        mlflow.set_tracking_uri(path_to_file_uri(root))
        content.log_everything(clock, seed=SEED)
    finally:
        mlflow.set_tracking_uri(previous_uri)
        _restore_environment(saved)


def _check_replaceable(output: Path) -> None:
    """Refuse to delete a folder that is not an mlruns store (a typo in --output must not cost data)."""
    if not output.exists():
        return
    if not output.is_dir():
        raise SystemExit(f"error: {output} exists and is not a folder")
    names = [entry.name for entry in output.iterdir()]
    if names and not all(mlruns.is_experiment_id(name) or name == mlruns.TRASH_DIR for name in names):
        raise SystemExit(f"error: {output} is not an mlruns store; not replacing it")


def _meta_files(root: Path):
    return sorted(root.rglob(mlruns.META_FILE))


def _rewrite_artifact_uris(root: Path, old_prefix: str, new_prefix: str) -> None:
    """Replace the generating folder's URI in every artifact_location and artifact_uri."""
    for path in _meta_files(root):
        meta = mlruns.load_meta(path.read_text(encoding="utf-8"))
        changed = False
        for field in ("artifact_location", "artifact_uri"):
            value = meta.get(field)
            if isinstance(value, str) and value.startswith(old_prefix + "/"):
                meta[field] = new_prefix + value[len(old_prefix):]
                changed = True
        if changed:
            path.write_text(mlruns.dump_meta(meta), encoding="utf-8")


def _drop_git_tags(root: Path) -> None:
    for tags_dir in sorted(root.glob(f"*/*/{mlruns.TAGS_DIR}")):
        for tag_file in sorted(tags_dir.glob(GIT_TAG_PREFIX + "*")):
            tag_file.unlink()


def _check_no_local_path(root: Path, local: str) -> None:
    """Fail loudly if the temporary folder's path leaked into any file: the tree would not be portable."""
    needle = local.encode()
    for path in sorted(root.rglob("*")):
        if path.is_file() and needle in path.read_bytes():
            raise SystemExit(f"error: {path.relative_to(root)} contains the local path {local}")


def tree_size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder to (re)write (default: sample_mlruns/)")
    parser.add_argument("--keep-paths", action="store_true", help="keep real artifact URIs (not portable)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    output = generate(args.output, keep_paths=args.keep_paths)
    files = sum(1 for path in output.rglob("*") if path.is_file())
    print(f"wrote {output}: {files} files, {tree_size(output) / 1024:.0f} KiB in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
