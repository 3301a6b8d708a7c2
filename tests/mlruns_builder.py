"""Tiny mlruns/ writer for reader tests: exact files (good and broken) without any logging client."""
from __future__ import annotations

from pathlib import Path

from reportgen import mlruns
from reportgen.model import Experiment, RunInfo
from reportgen.uri import path_to_file_uri

T0 = 1_700_000_000_000


def experiment(root: Path, exp_id: str = "1", name: str = "exp", *, tags: dict[str, str] | None = None,
               trash: bool = False) -> Path:
    folder = (root / mlruns.TRASH_DIR if trash else root) / exp_id
    folder.mkdir(parents=True, exist_ok=True)
    stage = "deleted" if trash else "active"
    meta = mlruns.experiment_to_meta(Experiment(exp_id, name, path_to_file_uri(folder), stage, {}, T0, T0))
    (folder / mlruns.META_FILE).write_text(mlruns.dump_meta(meta))
    for key, value in (tags or {}).items():
        write(folder / "tags" / key, value)
    return folder


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def run(exp_folder: Path, index: int, *, name: str | None = None, status: str = "FINISHED",
        stage: str = "active", metrics: dict[str, list[tuple[int, float, int]]] | None = None,
        params: dict[str, str] | None = None, tags: dict[str, str] | None = None,
        artifact_uri: str | None = None) -> str:
    """A run folder; metrics as {key: [(timestamp, value, step), ...]}. Returns the run id."""
    run_id = f"{index:032x}"
    folder = exp_folder / run_id
    folder.mkdir(parents=True)
    info = RunInfo(run_id, exp_folder.name, name if name is not None else f"run-{index}", "tester", status,
                   T0 + index, T0 + index + 100, artifact_uri or path_to_file_uri(folder / "artifacts"), stage,
                   T0 + 200 if stage == "deleted" else None)
    (folder / mlruns.META_FILE).write_text(mlruns.dump_meta(mlruns.run_to_meta(info)))
    (folder / "artifacts").mkdir()
    for key, points in (metrics or {}).items():
        write(folder / "metrics" / key, "".join(mlruns.format_metric_line(t, v, s) for t, v, s in points))
    for key, value in (params or {}).items():
        write(folder / "params" / key, value)
    for key, value in (tags or {}).items():
        write(folder / "tags" / key, value)
    return run_id


# MLflow 3.17's schema as reportgen.tracking ships it (made by MLflow, kept as SQL).
SCHEMA_SQL = Path(__file__).resolve().parents[1] / "reportgen" / "tracking" / "mlflow_schema.sql"


def mlflow_sqlite(path: Path) -> Path:
    """An empty SQLite database with MLflow 3.17's tracking schema (made once by MLflow, kept as SQL)."""
    import sqlite3

    from reportgen.tracking.sqlconn import SCHEMA_VERSION

    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_SQL.read_text())
    conn.execute("INSERT INTO alembic_version VALUES (?)", (SCHEMA_VERSION,))
    conn.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
                 "last_update_time) VALUES (0, 'Default', 'mlartifacts/0', 'active', ?, ?)", (T0, T0))
    conn.commit()
    conn.close()
    return path
