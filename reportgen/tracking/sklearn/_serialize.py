"""Writing a scikit-learn model in one of MLflow's serialization formats (skops, pickle, cloudpickle)."""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

from reportgen.errors import InvalidParameterValue, ReportgenError, UnsupportedError

SKOPS, PICKLE, CLOUDPICKLE = "skops", "pickle", "cloudpickle"
FORMATS = (SKOPS, PICKLE, CLOUDPICKLE)
MODEL_FILES = {SKOPS: "model.skops", PICKLE: "model.pkl", CLOUDPICKLE: "model.pkl"}


def default_format() -> str:
    """skops, MLflow 3's default; pickle (with a warning) where skops is not installed."""
    try:
        import skops.io  # noqa: F401  (only whether it is installed)
    except ImportError:
        warnings.warn(
            "skops is not installed: the model is saved with pickle instead of MLflow 3's default skops "
            "format (pip install skops for the safe format)", UserWarning, stacklevel=3,
        )
        return PICKLE
    return SKOPS


def check_format(serialization_format: str) -> str:
    if serialization_format not in FORMATS:
        raise InvalidParameterValue(
            f"Unrecognized serialization format: {serialization_format}. Please specify one of the "
            f"following supported formats: {list(FORMATS)}."
        )
    return serialization_format


def dump(sk_model: Any, path: Path, serialization_format: str, trusted_types: list[str] | None) -> None:
    """Write the model file; a skops file is loaded back once, as MLflow does, to refuse untrusted types."""
    if serialization_format == SKOPS:
        import skops.io
        from skops.io.exceptions import UntrustedTypesFoundException

        try:
            skops.io.dump(sk_model, path)
            skops.io.load(path, trusted=trusted_types)
        except UntrustedTypesFoundException as exc:
            path.unlink(missing_ok=True)
            raise ReportgenError(
                "The saved sklearn model references untrusted types. If you are sure loading these types is "
                f"safe, pass them as skops_trusted_types to log_model or save_model. Root error: {exc}"
            ) from None
        except Exception as exc:
            path.unlink(missing_ok=True)
            raise ReportgenError(
                "The sklearn model could not be serialized in the skops format (custom functions and classes "
                f"must be defined at module level): use serialization_format='cloudpickle'. Root error: {exc}"
            ) from None
        return
    if serialization_format == CLOUDPICKLE:
        try:
            import cloudpickle as module
        except ImportError:
            raise UnsupportedError("serialization_format='cloudpickle' needs cloudpickle: pip install cloudpickle") from None
    else:
        module = pickle
    with open(path, "wb") as out:
        module.dump(sk_model, out)
