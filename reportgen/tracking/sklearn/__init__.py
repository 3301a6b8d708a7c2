"""mlflow.sklearn's log_model and save_model: a scikit-learn model in MLflow's model format, logged as
MLflow 3 logs it (a logged model linked to the active run), readable by mlflow.sklearn and mlflow.pyfunc."""
from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportgen.errors import InvalidParameterValue, UnsupportedError
from reportgen.tracking import _env, _logged_models, _uri, context, fluent
from reportgen.tracking.client import TrackingClient
from reportgen.tracking.models import environment, extras, registry
from reportgen.tracking.models.example import make_example
from reportgen.tracking.models.mlmodel import Model, ModelInfo, folder_size
from reportgen.tracking.models.signature import ModelSignature, infer_schema
from reportgen.tracking.sklearn._serialize import (
    CLOUDPICKLE, FORMATS, MODEL_FILES, PICKLE, SKOPS, check_format, default_format, dump,
)

FLAVOR_NAME = "sklearn"
SERIALIZATION_FORMAT_SKOPS, SERIALIZATION_FORMAT_PICKLE, SERIALIZATION_FORMAT_CLOUDPICKLE = SKOPS, PICKLE, CLOUDPICKLE
SUPPORTED_SERIALIZATION_FORMATS = list(FORMATS)
_logger = logging.getLogger(__name__)

__all__ = ["FLAVOR_NAME", "SUPPORTED_SERIALIZATION_FORMATS", "log_model", "save_model"]


def save_model(
    sk_model: Any,
    path: str | os.PathLike[str],
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    mlflow_model: Model | None = None,
    serialization_format: str | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    skops_trusted_types: list[str] | None = None,
    extra_files: Any = None,
) -> None:
    """Write the model folder: MLmodel, the model file, environment files, signature and example."""
    if sum(option is not None for option in (conda_env, pip_requirements, extra_pip_requirements)) > 1:
        raise InvalidParameterValue(
            "Only one of `conda_env`, `pip_requirements`, and `extra_pip_requirements` can be specified"
        )
    import sklearn

    fmt = check_format(serialization_format or default_format())
    folder = Path(path)
    if folder.exists() and any(folder.iterdir()):
        raise InvalidParameterValue(f"Path '{folder}' already exists and is not empty")
    folder.mkdir(parents=True, exist_ok=True)
    code_dir = extras.copy_code_paths(code_paths, folder)
    model = mlflow_model or Model()
    example = None
    if input_example is not None:
        example = make_example(input_example)
        example.save(folder)
        model.saved_input_example_info = example.info
    if signature is None and example is not None:
        signature = _signature_from_example(sk_model, example.data)
    if signature is not None and signature is not False:
        model.signature = signature  # ours, or anything with MLflow's to_dict() (MLflow's own ModelSignature)
    if metadata is not None:
        model.metadata = metadata
    model_file = MODEL_FILES[fmt]
    dump(sk_model, folder / model_file, fmt, skops_trusted_types)
    extra_files_entry = extras.copy_extra_files(extra_files, folder)
    if hasattr(sk_model, pyfunc_predict_fn):
        model.add_pyfunc_flavor(loader_module="mlflow.sklearn", model_path=model_file, predict_fn=pyfunc_predict_fn,
                                conda_file=environment.CONDA_FILE, python_env_file=environment.PYTHON_ENV_FILE,
                                code=code_dir)
    else:
        _logger.warning("Model was missing function: %s. Not logging python_function flavor!", pyfunc_predict_fn)
    model.flavors[FLAVOR_NAME] = {
        "pickled_model": model_file, "sklearn_version": sklearn.__version__, "serialization_format": fmt,
        "code": code_dir, "skops_trusted_types": skops_trusted_types, **extra_files_entry,
    }
    model.model_size_bytes = folder_size(folder) or None
    model.save(folder)
    if conda_env is not None:
        conda, lines = environment.from_conda_env(conda_env)
        environment.write_env_files(folder, lines, conda)
        return
    default = {environment.pinned("scikit-learn")}
    if fmt in (SKOPS, CLOUDPICKLE):
        default.add(environment.pinned(fmt))
    default |= {environment.pinned(name) for name in environment.distributions_of(environment.pickled_modules(sk_model))}
    lines = environment.requirements(sorted(default), pip_requirements, extra_pip_requirements)
    environment.write_env_files(folder, lines)


def _signature_from_example(sk_model: Any, data: Any) -> ModelSignature | None:
    """Input schema of the example and the schema of the model's predict() on it (None when that fails).

    predict() whatever pyfunc_predict_fn says: MLflow 3.17 infers the output schema from it too.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow infers silently here
            inputs = infer_schema(data)
            prediction = sk_model.predict(data)
            if not inputs.is_tensor_spec() and isinstance(prediction, np.ndarray) and prediction.ndim == 1:
                prediction = pd.Series(prediction)  # one value per row of a column-based input
            return ModelSignature(inputs, infer_schema(prediction))
    except Exception as exc:  # MLflow logs a model without a signature when inference fails
        _logger.warning("Failed to infer the model signature from the input example: %s", exc)
        return None


def log_model(
    sk_model: Any,
    artifact_path: str | None = None,
    conda_env: Any = None,
    code_paths: list[str] | None = None,
    serialization_format: str | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | bool | None = None,
    input_example: Any = None,
    await_registration_for: int = 300,  # MLflow's signature; versions made here are READY at once
    pip_requirements: list[str] | None = None,
    extra_pip_requirements: list[str] | None = None,
    pyfunc_predict_fn: str = "predict",
    metadata: dict[str, Any] | None = None,
    extra_files: Any = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    model_type: str | None = None,
    step: int = 0,
    model_id: str | None = None,
    name: str | None = None,
    skops_trusted_types: list[str] | None = None,
) -> ModelInfo:
    """Log the model as MLflow 3 does: a logged model (linked to the active run, if any) holding the files."""
    if model_id is not None:
        raise UnsupportedError("log_model option not supported yet: model_id (log into an existing logged model)")
    if registered_model_name is not None:
        registry.validate_name(registered_model_name)
    if name is not None and artifact_path is not None:
        raise InvalidParameterValue(
            "Both `artifact_path` (deprecated) and `name` parameters were specified. Please only specify `name`."
        )
    if artifact_path is not None:
        _logger.warning("`artifact_path` is deprecated. Please use `name` instead.")
    name = name or artifact_path
    fmt = check_format(serialization_format or default_format())
    client = TrackingClient(_uri.get_tracking_uri())
    run = fluent.active_run()
    run_id = run.info.run_id if run else None
    experiment_id = run.info.experiment_id if run else fluent._get_experiment_id()
    model_params = {**(params or {}), **(client.get_run(run_id).data.params if run_id else {})}
    store = _logged_models.store_for(client)
    if registered_model_name is not None:
        registry.registry_for(store)  # refuse an unsupported registry before anything is logged
    logged = store.create(
        experiment_id,
        name=name or _env.random_run_name(),  # MLflow names an unnamed model like a run
        source_run_id=run_id,
        params={key: str(value) for key, value in model_params.items()},
        tags=context.resolve_tags({key: str(value) for key, value in (tags or {}).items()}),
        model_type=model_type,
    )
    mlmodel = Model(artifact_path=logged.artifact_location, run_id=run_id, model_id=logged.model_id,
                    model_uuid=logged.model_id)
    try:
        if run_id:
            store.link_run(logged, run_id, step)
        with tempfile.TemporaryDirectory(prefix="reportgen-model-") as tmp:
            folder = Path(tmp) / "model"
            save_model(sk_model, folder, conda_env=conda_env, code_paths=code_paths, extra_files=extra_files,
                       mlflow_model=mlmodel, serialization_format=fmt, signature=signature,
                       input_example=input_example, pip_requirements=pip_requirements,
                       extra_pip_requirements=extra_pip_requirements, pyfunc_predict_fn=pyfunc_predict_fn,
                       metadata=metadata, skops_trusted_types=skops_trusted_types)
            store.upload(logged, folder)
    except BaseException:
        store.finalize(logged, _logged_models.FAILED)
        raise
    store.finalize(logged, _logged_models.READY)
    version = None
    if registered_model_name is not None:
        version = registry.register(store, logged, registered_model_name, {k: str(v) for k, v in (tags or {}).items()})
    return ModelInfo(
        artifact_path=logged.artifact_location, flavors=mlmodel.flavors, model_uri=logged.model_uri,
        model_uuid=mlmodel.model_uuid, run_id=run_id, saved_input_example_info=mlmodel.saved_input_example_info,
        signature=mlmodel.signature, utc_time_created=mlmodel.utc_time_created, metadata=mlmodel.metadata,
        model_id=logged.model_id, name=logged.name, params=logged.params, tags=logged.tags,
        creation_timestamp=logged.creation_timestamp, registered_model_version=version,
    )

