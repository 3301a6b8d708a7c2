"""Model signatures as MLflow writes them in MLmodel: ModelSignature, its schemas, and infer_signature.

Covers the inputs scikit-learn models take and return (DataFrame, Series, ndarray, dict of ndarray,
sparse matrices, lists and scalars); the JSON of each spec is MLflow's, key order included.
"""
from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reportgen.errors import InvalidParameterValue

_logger = logging.getLogger(__name__)
INTEGER_HINT = (
    "Hint: Inferred schema contains integer column(s). Integer columns in Python cannot represent "
    "missing values. If your input data contains missing values at inference time, it will be encoded "
    "as floats and will cause a schema enforcement error. Declare integer columns as doubles (float64) "
    "when they may have missing values."
)


@dataclass(frozen=True)
class ColSpec:
    """A column: MLflow DataType name (double, long, string, any, ...) or an array type
    ({"type": "array", "items": {...}}), optional name, required."""

    type: str | dict[str, Any]
    name: str | int | None = None
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": self.type} if isinstance(self.type, str) else dict(self.type)
        if self.name is not None:
            spec["name"] = self.name
        spec["required"] = self.required
        return spec


@dataclass(frozen=True)
class TensorSpec:
    """A tensor: numpy dtype, shape (-1 for the variable axis), optional name."""

    dtype: np.dtype
    shape: tuple[int, ...]
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {} if self.name is None else {"name": self.name}
        spec.update({"type": "tensor", "tensor-spec": {"dtype": self.dtype.name, "shape": list(self.shape)}})
        return spec


@dataclass(frozen=True)
class Schema:
    inputs: tuple[ColSpec | TensorSpec, ...]

    def to_json(self) -> str:
        return json.dumps([spec.to_dict() for spec in self.inputs])

    def is_tensor_spec(self) -> bool:
        return bool(self.inputs) and isinstance(self.inputs[0], TensorSpec)


@dataclass(frozen=True)
class ParamSpec:
    """An inference parameter: name, MLflow type, default, shape (None, or (-1,) for a list)."""

    name: str
    type: str
    default: Any
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "default": self.default,
                "shape": None if self.shape is None else list(self.shape), "type": self.type}


@dataclass(frozen=True)
class ParamSchema:
    params: tuple[ParamSpec, ...]

    def to_json(self) -> str:
        return json.dumps([param.to_dict() for param in self.params])


@dataclass(frozen=True)
class ModelSignature:
    """Inputs, outputs and params of a model; to_dict() is the `signature` block of MLmodel."""

    inputs: Schema | None = None
    outputs: Schema | None = None
    params: ParamSchema | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "inputs": self.inputs.to_json() if self.inputs else None,
            "outputs": self.outputs.to_json() if self.outputs else None,
            "params": self.params.to_json() if self.params else None,
        }


def infer_signature(model_input: Any = None, model_output: Any = None,
                    params: dict[str, Any] | None = None) -> ModelSignature:
    """The signature MLflow infers from example input, the model's output on it, and params."""
    return ModelSignature(
        _schema_or_any(model_input, "inputs") if model_input is not None else None,
        _schema_or_any(model_output, "outputs") if model_output is not None else None,
        _param_schema(params) if params else None,
    )


def _schema_or_any(data: Any, kind: str) -> Schema:
    """The inferred schema, or MLflow's fallback for data it cannot type: one column of any type."""
    try:
        return infer_schema(data)
    except InvalidParameterValue as exc:
        _logger.warning("Failed to infer schema for %s (%s). Setting schema to `Schema([ColSpec(type=AnyType())]` "
                        "as default.", kind, exc)
        return Schema((ColSpec("any"),))


def infer_schema(data: Any) -> Schema:
    """MLflow's _infer_schema for the data kinds listed in the module docstring."""
    if isinstance(data, list) and not data:
        return Schema((ColSpec("string"),))
    if isinstance(data, list) and all(isinstance(row, dict) for row in data):
        columns: dict[Any, list[Any]] = {}
        for row in data:
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
        schema = Schema(tuple(ColSpec(_values_type(values), name, all(row.get(name) is not None for row in data))
                              for name, values in columns.items()))
    elif isinstance(data, dict) and data and not any(isinstance(v, np.ndarray) for v in data.values()):
        if not all(isinstance(key, str) for key in data):
            raise InvalidParameterValue("The dictionary keys are not all strings.")
        schema = Schema(tuple(ColSpec(_values_type([value]), name, not _is_missing(value))
                              for name, value in data.items()))
    elif isinstance(data, pd.DataFrame):
        schema = Schema(tuple(ColSpec(_pandas_type(data[col]), col, _required(data[col])) for col in data.columns))
    elif isinstance(data, pd.Series):
        schema = Schema((ColSpec(_pandas_type(data), data.name, _required(data)),))
    elif isinstance(data, np.ndarray):
        schema = Schema((TensorSpec(_tensor_dtype(data.dtype), _variable_shape(data.shape)),))
    elif _is_sparse(data):
        schema = Schema((TensorSpec(_tensor_dtype(data.data.dtype), _variable_shape(data.shape)),))
    elif isinstance(data, dict) and data and all(isinstance(v, np.ndarray) for v in data.values()):
        schema = Schema(tuple(TensorSpec(_tensor_dtype(v.dtype), _variable_shape(v.shape), name)
                              for name, v in data.items()))
    elif isinstance(data, list) and not any(isinstance(v, dict) for v in data):
        schema = Schema((ColSpec(_values_type(data)),))
    elif np.isscalar(data) or isinstance(data, pd.Timestamp):
        schema = Schema((ColSpec(_values_type([data])),))
    else:
        raise InvalidParameterValue(
            f"cannot infer a schema from {type(data).__name__}: expected a pandas DataFrame or Series, a numpy "
            "array, a dict of numpy arrays, a scipy sparse matrix, a list of scalars or a scalar"
        )
    if not schema.is_tensor_spec() and any(spec.type in ("integer", "long") for spec in schema.inputs):
        warnings.warn(INTEGER_HINT, UserWarning, stacklevel=3)
    return schema


def _is_sparse(data: Any) -> bool:
    try:
        from scipy.sparse import csc_matrix, csr_matrix
    except ImportError:
        return False
    return isinstance(data, (csc_matrix, csr_matrix))


def _variable_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (-1, *shape[1:])


def _tensor_dtype(dtype: np.dtype) -> np.dtype:
    # MLflow drops the width of fixed-size strings: <U5 becomes str, |S3 becomes bytes.
    if dtype.char == "U":
        return np.dtype("str")
    if dtype.char == "S":
        return np.dtype("bytes")
    return dtype


def numpy_type(dtype: Any) -> str:
    """The MLflow DataType name of a numpy or pandas dtype (MLflow's _infer_numpy_dtype)."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "boolean"
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return "integer"
        if size < 8 or (kind == "i" and size == 8):
            return "long"
    elif kind == "f":
        if size <= 4:
            return "float"
        if size <= 8:
            return "double"
    elif kind == "U":
        return "string"
    elif kind == "S":
        return "binary"
    elif kind == "M":
        return "datetime"
    raise InvalidParameterValue(f"unsupported data type '{dtype}' (kind '{kind}') for a model signature")


def _pandas_type(col: pd.Series) -> str:
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.astype(col.cat.categories.dtype)
    if col.dtype.kind == "O" or pd.api.types.is_string_dtype(col.dtype):
        col = col.infer_objects()
        if pd.api.types.is_string_dtype(col.dtype) and col.dtype.kind != "O":
            return "string"
        if col.dtype.kind == "O":
            return _values_type(col.to_list(), string_fallback=pd.api.types.is_string_dtype(col))
    return numpy_type(col.dtype)


def _is_missing(value: Any) -> bool:
    if isinstance(value, float):
        return bool(np.isnan(value))
    return value is None or value is pd.NA or value is pd.NaT


def _required(col: pd.Series) -> bool:
    return not any(_is_missing(value) for value in col)


def _scalar_type(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return numpy_type(np.asarray(value).dtype) if isinstance(value, np.integer) else "long"
    if isinstance(value, (float, np.floating)):
        return numpy_type(np.asarray(value).dtype) if isinstance(value, np.floating) else "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (bytes, bytearray)):
        return "binary"
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return "datetime"
    raise InvalidParameterValue(f"unsupported value of type {type(value).__name__} for a model signature")


def _values_type(values: list[Any], *, string_fallback: bool = False) -> str | dict[str, Any]:
    """One MLflow type for a column's values, missing ones skipped ("any" when all are): a scalar type,
    or an array of one (lists, nested too); mixed types are an error."""
    present = [value for value in values if not _is_missing(value)]
    if not present:
        return "any"
    if all(isinstance(value, (list, np.ndarray)) for value in present):
        items = _values_type([item for value in present for item in value])
        return {"type": "array", "items": {"type": items} if isinstance(items, str) else items}
    types = {_scalar_type(value) for value in present}
    if len(types) == 1:
        return types.pop()
    if string_fallback:
        return "string"
    raise InvalidParameterValue(f"values of mixed types {sorted(types)} in one model signature column")


def _param_schema(params: dict[str, Any]) -> ParamSchema:
    specs = []
    for name, value in params.items():
        if isinstance(value, (list, np.ndarray)):
            values = list(value)
            specs.append(ParamSpec(name, _values_type(values), [_plain(v) for v in values], (-1,)))
        else:
            specs.append(ParamSpec(name, _scalar_type(value), _plain(value)))
    return ParamSchema(tuple(specs))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
