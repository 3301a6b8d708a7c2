"""Dataset inputs in an mlruns/ file store, laid out as MLflow 3's FileStore.log_inputs lays them:
<experiment>/datasets/<md5(name, digest)>/meta.yaml once per experiment, and
<run>/inputs/<md5(dataset id, run id)>/meta.yaml once per run, each written whole or not at all.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from reportgen import mlruns
from reportgen.model import DatasetInput
from reportgen.tracking import _files


def dataset_id(name: str, digest: str) -> str:
    md5 = hashlib.md5(name.encode("utf-8"), usedforsecurity=False)
    md5.update(digest.encode("utf-8"))
    return md5.hexdigest()


def input_id(dataset: str, run_id: str) -> str:
    md5 = hashlib.md5(dataset.encode("utf-8"), usedforsecurity=False)
    md5.update(run_id.encode("utf-8"))
    return md5.hexdigest()


def _create_once(folder: Path, meta: dict) -> None:
    """folder/meta.yaml unless the folder exists (MLflow keeps the first record of a dataset or input)."""
    if folder.exists():
        return
    _files.makedirs(folder)
    _files.create_exclusive(folder / mlruns.META_FILE, mlruns.dump_meta(meta).encode("utf-8"), temp_dir=folder)


def write_inputs(run_dir: str | os.PathLike[str], run_id: str, datasets: Sequence[DatasetInput]) -> None:
    run_dir = Path(run_dir)
    experiment_dir = run_dir.parent
    for item in datasets:
        dataset = item.dataset
        ident = dataset_id(dataset.name, dataset.digest)
        _create_once(experiment_dir / mlruns.DATASETS_DIR / ident, {
            "name": dataset.name, "digest": dataset.digest, "source_type": dataset.source_type,
            "source": dataset.source, "schema": dataset.schema, "profile": dataset.profile,
        })
        # MLflow writes the dataset id as destination_id too (not the run id); readers rely on that.
        _create_once(run_dir / mlruns.INPUTS_DIR / input_id(ident, run_id), {
            "source_type": "DATASET", "source_id": ident, "destination_type": "RUN", "destination_id": ident,
            "tags": {tag.key: tag.value for tag in item.tags},
        })
