"""MLflow's column and tensor schemas (a dataset's schema, a model signature's inputs, outputs and params)
as the pages list them: one "name: type" line a column.
"""
from __future__ import annotations

import json

from reportgen.site import fmt

MAX_SCHEMA_COLUMNS = 200


def schema_columns(schema: str | None) -> list[str] | None:
    """A dataset's MLflow schema (`{"mlflow_colspec": [...]}` or `{"mlflow_tensorspec": [...]}`) as
    "name: type" lines; None when there is none or it cannot be read (the page then shows no schema)."""
    try:
        value = json.loads(schema) if schema else None
    except (ValueError, RecursionError):
        return None
    specs = value.get("mlflow_colspec", value.get("mlflow_tensorspec")) if isinstance(value, dict) else None
    if not isinstance(specs, list):
        return None
    lines = []
    for spec in specs[:MAX_SCHEMA_COLUMNS]:
        if not isinstance(spec, dict):
            continue
        kind = spec.get("type", "")
        tensor = spec.get("tensor-spec")
        if isinstance(tensor, dict):  # a tensor column: its dtype and shape say more than "tensor"
            kind = f"{tensor.get('dtype', '')} {tensor.get('shape', '')}".strip()
        if not isinstance(kind, str):
            kind = json.dumps(kind, sort_keys=True)
        name = spec.get("name")
        lines.append(fmt.clip(f"{name}: {kind}" if name is not None else kind, 500))
    if len(specs) > MAX_SCHEMA_COLUMNS:
        lines.append(f"… and {len(specs) - MAX_SCHEMA_COLUMNS} more")
    return lines
