"""Input examples as MLflow saves them next to a model: input_example.json, serving_input_example.json
and the `saved_input_example_info` block of MLmodel (MLflow's models/utils.py _Example)."""
from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportgen.errors import InvalidParameterValue

EXAMPLE_FILE = "input_example.json"
SERVING_EXAMPLE_FILE = "serving_input_example.json"


class NumpyEncoder(json.JSONEncoder):
    """JSON for numpy and pandas values, converted as MLflow's NumpyEncoder converts them."""

    def default(self, o: Any) -> Any:
        converted = _convert(o)
        return super().default(o) if converted is o else converted


def _convert(o: Any) -> Any:
    """o as a JSON-ready value, or o itself when there is nothing to convert."""
    if isinstance(o, np.ndarray):
        if o.dtype == object:
            return [_convert(x) for x in o.tolist()]
        if o.dtype.kind == "S":
            return [_b64(x) for x in o.tolist()]
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (bytes, bytearray)):
        return _b64(o)
    if isinstance(o, (pd.Timestamp, dt.date, dt.datetime, dt.time)):
        return o.isoformat()
    return o


def _b64(value: bytes) -> str:
    return base64.encodebytes(value).decode("ascii")


@dataclass
class InputExample:
    """An example ready to save: the data to predict on, its JSON forms and its MLmodel info."""

    data: Any
    params: dict[str, Any] | None
    info: dict[str, str] = field(default_factory=dict)
    example_json: str = ""
    serving_json: str | None = None

    def save(self, folder: Path) -> None:
        (folder / EXAMPLE_FILE).write_text(self.example_json)
        if self.serving_json is not None:
            (folder / SERVING_EXAMPLE_FILE).write_text(self.serving_json)


def _nans_to_none(array: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(array), None, array) if np.issubdtype(array.dtype, np.number) else array


def make_example(input_example: Any) -> InputExample:
    """Build the example MLflow would save for `input_example` (optionally a (data, params) tuple)."""
    data, params = input_example, None
    if isinstance(input_example, tuple) and len(input_example) == 2 and isinstance(input_example[1], dict):
        data, params = input_example
    info = {"artifact_path": EXAMPLE_FILE}
    if params:
        info["params"] = "true"  # MLflow's marker that the example file holds data and params
    serving: dict[str, Any] | None
    if isinstance(data, pd.DataFrame):
        saved = data.where(data.notnull(), None).to_dict(orient="split")
        del saved["index"]
        if list(data.columns) == list(range(len(data.columns))):
            del saved["columns"]  # MLflow leaves out a default column index
        serving = {"dataframe_split": saved}
        info.update({"type": "dataframe", "pandas_orient": "split" if "columns" in saved else "values"})
    elif isinstance(data, np.ndarray):
        saved = _nans_to_none(data).tolist()
        serving = {"inputs": saved}
        info["type"] = "ndarray"
    elif isinstance(data, dict) and any(isinstance(v, np.ndarray) for v in data.values()):
        if not all(isinstance(v, np.ndarray) for v in data.values()):
            raise InvalidParameterValue(
                "Mixed types in dictionary are not supported as input examples. Found numpy arrays and other types."
            )
        saved = {name: _nans_to_none(v).tolist() for name, v in data.items()}
        serving = {"inputs": saved}
        info["type"] = "ndarray"
    elif _sparse_kind(data):
        info["type"] = _sparse_kind(data)
        serving = {"inputs": data.toarray()}
        saved = {"data": _nans_to_none(data.data).tolist(), "indices": data.indices.tolist(),
                 "indptr": data.indptr.tolist(), "shape": list(data.shape)}
    elif isinstance(data, (dict, list)) or np.isscalar(data) or isinstance(data, dt.datetime):
        saved = data
        serving = {"inputs": data}
        info["type"] = "json_object"
    else:
        raise InvalidParameterValue(
            f"input_example of type {type(data).__name__} is not supported: use a pandas DataFrame, a numpy "
            "array, a dict of numpy arrays, a scipy sparse matrix, a dict, a list or a scalar"
        )
    if params:
        saved = {"inputs": saved, "params": params}
        serving = {**serving, "params": params}
    example = InputExample(data, params, info, json.dumps(saved, cls=NumpyEncoder))
    example.serving_json = json.dumps(serving, cls=NumpyEncoder, indent=2)
    info["serving_input_path"] = SERVING_EXAMPLE_FILE
    return example


def _sparse_kind(data: Any) -> str | None:
    try:
        from scipy.sparse import csc_matrix, csr_matrix
    except ImportError:
        return None
    if isinstance(data, csc_matrix):
        return "sparse_matrix_csc"
    if isinstance(data, csr_matrix):
        return "sparse_matrix_csr"
    return None
