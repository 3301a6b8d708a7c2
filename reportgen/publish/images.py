"""Chart images for a summary: the primary metric's history of the top runs (and the baseline), drawn
by charts.history_chart, made static by vl-convert, written into one folder and linked relatively."""
from __future__ import annotations

import os
import re
from pathlib import Path

from reportgen.publish.summary_data import Summary

IMAGE_FORMATS = ("svg", "png")


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40]
    return slug or "x"


def write_images(store, summary: Summary, folder: Path, *, link_base: Path, fmt: str = "svg") -> None:
    """One image per experiment with a ranked metric; each experiment's `images` gets
    {"metric", "path" (relative to link_base, '/'-separated), "alt"}."""
    from reportgen.charts import history_chart
    from reportgen.static_charts import render_static, stable_svg_ids

    if fmt not in IMAGE_FORMATS:
        from reportgen.errors import BadInputError

        raise BadInputError(f"unknown image format {fmt!r}: use svg or png")
    folder.mkdir(parents=True, exist_ok=True)
    for index, exp in enumerate(summary.experiments, 1):
        key = exp.ranked_by
        if key is None:
            continue
        rows = ([exp.baseline] if exp.baseline else []) + exp.top
        ids = list(dict.fromkeys(row.run_id for row in rows))
        history = store.metric_histories(ids, [key])
        if history.empty:
            continue
        labels = {row.run_id: row.run_name or row.run_id[:8] for row in rows}
        if exp.baseline is not None:
            labels[exp.baseline.run_id] = f"{labels[exp.baseline.run_id]} (baseline)"
        spec = history_chart(history, title=f"{key} — {exp.name}", run_labels=labels)
        # The experiment's position keeps names unique; the slugs make the folder readable.
        name = f"{index:02d}-{_slug(exp.name)}-{_slug(key)}.{fmt}"
        target = folder / name
        image = render_static(spec, fmt)
        # vl-convert numbers clip paths per process: renumbered, the same summary gives the same bytes.
        target.write_bytes(stable_svg_ids(image) if fmt == "svg" else image)
        link = Path(os.path.relpath(target.resolve(), link_base.resolve())).as_posix()
        exp.images.append({"metric": key, "path": link, "alt": f"{key} of the top runs of {exp.name}"})
