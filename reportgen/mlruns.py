"""The one place that knows MLflow's mlruns/ layout: folder names, meta.yaml fields, metric lines.

Both the file store reader (reportgen.stores.file) and the writer (reportgen.tracking.filestore) use
these helpers, so what one writes the other reads, and both match what MLflow 1.x-3.x write and read.
"""
from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.resolver import Resolver

from reportgen.limits import META_MAX_BYTES, YAML_MAX_DEPTH, YAML_MAX_INT_DIGITS
from reportgen.model import Experiment, LifecycleStage, RunInfo, RunStatus

# Folder and file names inside a store.
META_FILE = "meta.yaml"
TRASH_DIR = ".trash"
METRICS_DIR = "metrics"
PARAMS_DIR = "params"
TAGS_DIR = "tags"
ARTIFACTS_DIR = "artifacts"
DATASETS_DIR = "datasets"
INPUTS_DIR = "inputs"
OUTPUTS_DIR = "outputs"
MODELS_DIR = "models"
TRACES_DIR = "traces"
# Folders inside an experiment folder that are not runs.
RESERVED_EXPERIMENT_DIRS = frozenset({TAGS_DIR, DATASETS_DIR, MODELS_DIR, TRACES_DIR})
# Folders at the root of a store that are not experiments.
RESERVED_ROOT_DIRS = frozenset({TRASH_DIR, MODELS_DIR})

DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"
# MLflow's file store: source_type 4 is LOCAL, entry_point_name and source fields are kept empty.
SOURCE_TYPE_LOCAL = 4

RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")
EXPERIMENT_ID_RE = re.compile(r"^[0-9]+$")
# A meta.yaml bigger than this is not something MLflow wrote; refuse it rather than parse it.
MAX_META_BYTES = META_MAX_BYTES


class MetaError(ValueError):
    """A meta.yaml that is empty, not YAML, not a mapping, or carries YAML features MLflow never writes."""


class _NoAliasSafeLoader(yaml.SafeLoader):
    """safe_load without anchors and aliases: MLflow never writes them, and they allow alias bombs."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            raise MetaError("YAML aliases are not allowed in meta.yaml")
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise MetaError("YAML anchors are not allowed in meta.yaml")
        return super().compose_node(parent, index)


# libyaml when there: only its events are used (no object is built), so the base loader is enough.
_EventParser = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_RESOLVER = Resolver()
_INT_TAG = "tag:yaml.org,2002:int"


def check_shape(text: str) -> None:
    """Refuse YAML that would cost a parser or int() more than MLflow's files ever need: nesting deeper
    than YAML_MAX_DEPTH (80 KB of '[' overflows the composer's recursion), a number of more than
    YAML_MAX_INT_DIGITS digits (int() refuses over 4300), anchors and aliases (alias bombs).

    Walks the parser's events, which come without recursion, and stops at the first fault."""
    depth = 0
    try:
        parser = _EventParser(text)
        try:
            while parser.check_event():
                event = parser.get_event()
                if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                    raise MetaError("YAML anchors and aliases are not allowed in meta.yaml")
                if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                    depth += 1
                    if depth > YAML_MAX_DEPTH:
                        raise MetaError(f"meta.yaml is nested deeper than {YAML_MAX_DEPTH} levels")
                elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                    depth -= 1
                elif (isinstance(event, yaml.ScalarEvent) and event.implicit[0] and not event.style
                      and len(event.value) > YAML_MAX_INT_DIGITS
                      and _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False)) == _INT_TAG):
                    raise MetaError(f"meta.yaml holds a number of {len(event.value)} digits")
        finally:
            dispose = getattr(parser, "dispose", None)
            if dispose is not None:
                dispose()
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MetaError(f"meta.yaml is not valid YAML ({first_line})") from None


def load_meta(data: bytes | str, *, checked: bool = False) -> dict[str, Any]:
    """Parse a meta.yaml, refusing anything MLflow would not have written (checked: check_shape passed)."""
    if len(data) > MAX_META_BYTES:
        raise MetaError(f"meta.yaml is larger than {MAX_META_BYTES} bytes")
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    if not data.strip():
        raise MetaError("meta.yaml is empty")
    if not checked:
        check_shape(data)
    try:
        loaded = yaml.load(data, Loader=_NoAliasSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MetaError(f"meta.yaml is not valid YAML ({first_line})") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # a value the constructor cannot make
        raise MetaError(f"meta.yaml holds a value that cannot be read ({str(exc)[:100]})") from None
    if not isinstance(loaded, dict):
        raise MetaError(f"meta.yaml is not a mapping (got {type(loaded).__name__})")
    return loaded


def dump_meta(data: dict[str, Any]) -> str:
    """YAML text exactly as MLflow's write_yaml produces it (sorted keys, block style, unicode).

    One exception: PyYAML writes U+0085 (NEL) raw with allow_unicode and reads it back as a line
    break, so MLflow loses it; a meta.yaml holding one is written with escapes instead (still read
    by MLflow, now without loss).
    """
    lossy = any(isinstance(v, str) and "\x85" in v for v in data.values())
    return yaml.safe_dump(data, default_flow_style=False, allow_unicode=not lossy, sort_keys=True)


_INT64 = 1 << 63


def _opt_int(value: Any) -> int | None:
    """An int64 (times are int64 milliseconds everywhere downstream), None for a missing value."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise MetaError(f"expected an integer, got {value!r}")
    if isinstance(value, str) and len(value) > YAML_MAX_INT_DIGITS:
        raise MetaError(f"expected an integer, got a text of {len(value)} characters")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise MetaError(f"expected an integer, got {str(value)[:40]!r}") from None
    if not -_INT64 <= number < _INT64:
        raise MetaError(f"integer {str(number)[:40]}... is out of range")
    return number


def _lifecycle(value: Any) -> str:
    if value in (None, ""):
        return LifecycleStage.ACTIVE
    if value not in (LifecycleStage.ACTIVE, LifecycleStage.DELETED):
        raise MetaError(f"unknown lifecycle_stage {value!r}")
    return value


def experiment_to_meta(experiment: Experiment) -> dict[str, Any]:
    """The experiment meta.yaml fields MLflow 3.x writes (tags live in tags/, not here)."""
    return {
        "artifact_location": experiment.artifact_location,
        "creation_time": experiment.creation_time,
        "effective_trace_archival_retention": None,
        "experiment_id": str(experiment.experiment_id),
        "last_update_time": experiment.last_update_time,
        "lifecycle_stage": experiment.lifecycle_stage,
        "name": experiment.name,
        "trace_location": None,
        "workspace": "default",
    }


def experiment_from_meta(meta: dict[str, Any], tags: dict[str, str] | None = None) -> Experiment:
    """An Experiment from meta.yaml; tolerates int ids (old stores) and ignores unknown fields."""
    experiment_id = meta.get("experiment_id")
    name = meta.get("name")
    if experiment_id is None or isinstance(experiment_id, bool) or str(experiment_id) == "":
        raise MetaError("experiment meta.yaml has no experiment_id")
    if not isinstance(name, str):
        raise MetaError("experiment meta.yaml has no name")
    artifact_location = meta.get("artifact_location") or ""
    return Experiment(
        experiment_id=str(experiment_id),
        name=name,
        artifact_location=str(artifact_location),
        lifecycle_stage=_lifecycle(meta.get("lifecycle_stage")),
        tags=dict(tags or {}),
        creation_time=_opt_int(meta.get("creation_time")),
        last_update_time=_opt_int(meta.get("last_update_time")),
    )


def run_to_meta(info: RunInfo) -> dict[str, Any]:
    """The run meta.yaml fields MLflow writes; deleted_time only once the run is deleted."""
    meta: dict[str, Any] = {
        "artifact_uri": info.artifact_uri,
        "end_time": info.end_time,
        "entry_point_name": "",
        "experiment_id": str(info.experiment_id),
        "lifecycle_stage": info.lifecycle_stage,
        "run_id": info.run_id,
        "run_name": info.run_name,
        "source_name": "",
        "source_type": SOURCE_TYPE_LOCAL,
        "source_version": "",
        "start_time": info.start_time,
        "status": RunStatus.to_int(info.status),
        "tags": [],
        "user_id": info.user_id,
    }
    if info.deleted_time is not None:
        meta["deleted_time"] = info.deleted_time
    return meta


def run_from_meta(meta: dict[str, Any]) -> RunInfo:
    """A RunInfo from meta.yaml, as old and new MLflow versions wrote it (run_uuid, int ids, no name)."""
    run_id = meta.get("run_id") or meta.get("run_uuid")
    if not isinstance(run_id, str) or not run_id:
        raise MetaError("run meta.yaml has no run_id")
    experiment_id = meta.get("experiment_id")
    if experiment_id is None or isinstance(experiment_id, bool):
        raise MetaError("run meta.yaml has no experiment_id")
    try:
        status = RunStatus.to_string(meta.get("status", 1))
    except (TypeError, ValueError):
        raise MetaError(f"unknown run status {meta.get('status')!r}") from None
    run_name = meta.get("run_name")
    user_id = meta.get("user_id")
    return RunInfo(
        run_id=run_id,
        experiment_id=str(experiment_id),
        run_name="" if run_name is None else str(run_name),
        user_id="" if user_id is None else str(user_id),
        status=status,
        start_time=_opt_int(meta.get("start_time")),
        end_time=_opt_int(meta.get("end_time")),
        artifact_uri=str(meta.get("artifact_uri") or ""),
        lifecycle_stage=_lifecycle(meta.get("lifecycle_stage")),
        deleted_time=_opt_int(meta.get("deleted_time")),
    )


def format_metric_line(timestamp: int, value: float, step: int) -> str:
    """One metric point as MLflow writes it: f"{timestamp} {value} {step}\\n" (repr of the float)."""
    return f"{int(timestamp)} {float(value)!r} {int(step)}\n"


def parse_metric_line(line: str) -> tuple[int, float, int]:
    """(timestamp, value, step) from a line of 2, 3 or 5 fields; raises ValueError on anything else.

    Unlike MLflow 3.17 (which takes step 0 for 5-field lines), the step of a 5-field line is read.
    """
    parts = line.split()
    if len(parts) not in (2, 3, 5):
        raise ValueError(f"expected 2, 3 or 5 fields, got {len(parts)}")
    timestamp = int(parts[0])
    value = float(parts[1])
    step = int(parts[2]) if len(parts) >= 3 else 0
    return timestamp, value, step


def is_run_id(name: str) -> bool:
    return bool(RUN_ID_RE.match(name))


def is_experiment_id(name: str) -> bool:
    return bool(EXPERIMENT_ID_RE.match(name))


def is_nan(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)
