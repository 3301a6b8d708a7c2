"""How much reportgen reads and shows of one item: the caps that keep one hostile or broken run from
exhausting memory or time. Every reader and page takes its numbers from here.

What happens at a cap (each one a problem naming the file, the build goes on):
- a run's meta.yaml over META_MAX_BYTES, not a regular file, too deeply nested or holding a huge number:
  the run is skipped;
- a param or tag file over VALUE_FILE_MAX_BYTES or not a regular file: that value is dropped (the rest
  of the run is kept); a value that is the real one or nothing, never a silently shortened one;
- a metric file over METRIC_FILE_MAX_BYTES or not a regular file: that metric is skipped.
Shown values are clipped for display only (site.fmt.clip): the data keeps the whole value.
"""
from __future__ import annotations

import os


def _env_bytes(name: str, default: int) -> int:
    """A cap a user may raise for a store of unusual but honest files (REPORTGEN_<NAME>, in bytes)."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


# MLflow writes meta.yaml files of a few hundred bytes.
META_MAX_BYTES = _env_bytes("REPORTGEN_META_MAX_BYTES", 1 << 20)
# MLflow caps param values at 6000 characters and tag values at 8000; old stores, notes and hand-written
# files hold more (a multi-MB note is read, and clipped on pages), so this cap only stops the absurd
# (a 3 GB params file).
VALUE_FILE_MAX_BYTES = _env_bytes("REPORTGEN_VALUE_MAX_BYTES", 16 << 20)
# A metric file of a long run at 1 kHz is tens of MB; gigabytes are not a metric.
METRIC_FILE_MAX_BYTES = _env_bytes("REPORTGEN_METRIC_FILE_MAX_BYTES", 1 << 30)
# YAML that MLflow writes is flat or two levels deep (dataset schemas a few more): deeper nesting is
# refused before the parser recurses into it.
YAML_MAX_DEPTH = 32
# int() refuses more than 4300 digits (Python 3.11+) and a timestamp has 13: a longer number is
# refused before any conversion.
YAML_MAX_INT_DIGITS = 40

# Display: a param or tag value (or a run name) is clipped to CLIP_CHARS in tables, chart data and images
# (with an ellipsis, site.fmt.cut); a click opens more of it in place: up to FULL_VALUE_MAX_CHARS on a
# run page, TABLE_FULL_CHARS in tables of many runs (the runs table, the compare page's data).
CLIP_CHARS = 200
FULL_VALUE_MAX_CHARS = 64 * 1024
TABLE_FULL_CHARS = 2000
