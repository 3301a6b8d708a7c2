"""The artifact half of TrackingClient: files, folders, text, dicts, figures, images and tables, and
listing and downloading them. Writes go to the run's artifact folder, or to a staging folder that is
uploaded when the call ends (through a tracking server's proxy, or straight to an s3://, gs:// or Azure
artifact root as MLflow's client does), so all get the same path and file checks.
"""
from __future__ import annotations

import contextlib
import json
import os
import posixpath
import tempfile
from pathlib import Path
from typing import Any, Iterator

import yaml

from reportgen import validation
from reportgen.errors import InvalidParameterValue, UnsupportedError
from reportgen.model import FileInfo
from reportgen.stores import objectstore
from reportgen.tracking import _env, artifacts, async_logging, media


class ArtifactMethods:
    """Mixed into TrackingClient, which provides _writer(), _store(), get_run() and set_tag()."""

    @contextlib.contextmanager
    def _artifact_root(self, run_id: str) -> Iterator[Path]:
        writer = self._writer()
        uri = writer.artifact_uri(validation.validate_run_id(run_id))
        upload = getattr(writer, "upload_artifacts", None)
        if objectstore.is_object_uri(uri):
            upload = lambda _, staged: objectstore.upload_folder(uri, staged)  # noqa: E731
        if upload is None:
            yield artifacts.artifact_root(uri)
            return
        with tempfile.TemporaryDirectory(prefix="reportgen-upload-") as staging:
            yield Path(staging)
            upload(run_id, Path(staging))

    def _write_files(self, run_id: str, files: dict[str, bytes]) -> None:
        with self._artifact_root(run_id) as root:
            for artifact_file, data in files.items():
                artifacts.write_artifact(root, artifact_file, data)

    def log_artifact(self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        """A file into artifact_path/, or a folder into artifact_path/<folder name>/ (as MLflow)."""
        with self._artifact_root(run_id) as root:
            artifacts.log_artifact(root, local_path, artifact_path)

    def log_artifacts(self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None) -> None:
        with self._artifact_root(run_id) as root:
            artifacts.log_artifacts(root, local_dir, artifact_path)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._write_files(run_id, {artifact_file: text.encode("utf-8")})

    def log_dict(self, run_id: str, dictionary: Any, artifact_file: str) -> None:
        """JSON (indent 2), or YAML when the file ends in .yml/.yaml, as MLflow writes them."""
        if os.path.splitext(artifact_file)[1] in (".yml", ".yaml"):
            try:
                text = yaml.safe_dump(dictionary, indent=2, default_flow_style=False)
            except yaml.YAMLError as exc:
                raise InvalidParameterValue(f"cannot write {artifact_file} as YAML: {exc}") from None
        else:
            text = json.dumps(dictionary, indent=2, default=str)
        self.log_text(run_id, text, artifact_file)

    def log_figure(
        self, run_id: str, figure: Any, artifact_file: str, *, save_kwargs: dict[str, Any] | None = None
    ) -> None:
        """A matplotlib figure saved in the format its file suffix names (PNG, SVG, PDF, ...)."""
        try:
            import matplotlib.figure
        except ImportError:
            raise UnsupportedError("log_figure needs matplotlib: pip install matplotlib") from None
        if not isinstance(figure, matplotlib.figure.Figure):
            raise InvalidParameterValue(
                f"Unsupported figure object type: '{type(figure).__name__}' (only matplotlib figures)"
            )
        import io

        buffer = io.BytesIO()
        suffix = os.path.splitext(artifact_file)[1].lstrip(".").lower() or "png"
        figure.savefig(buffer, format=suffix, **(save_kwargs or {}))
        self._write_files(run_id, {artifact_file: buffer.getvalue()})

    def log_image(
        self,
        run_id: str,
        image: Any,
        artifact_file: str | None = None,
        key: str | None = None,
        step: int | None = None,
        timestamp: int | None = None,
        synchronous: bool | None = None,
    ) -> async_logging.RunOperations | None:
        """An image as one file (artifact_file), or under a key per step as MLflow 3's UI reads them."""
        if artifact_file is not None and any(arg is not None for arg in (key, step, timestamp)):
            raise TypeError(
                "The `artifact_file` parameter cannot be used in conjunction with `key`, `step`, or "
                "`timestamp` parameters. Please ensure that `artifact_file` is specified alone, without any "
                "of these conflicting parameters."
            )
        if artifact_file is None and key is None:
            raise TypeError(
                "Invalid arguments: Please specify exactly one of `artifact_file` or `key`. Use `key` to log "
                "dynamic image charts or `artifact_file` for saving static images. "
            )
        picture = media.to_pil(image)
        if artifact_file is not None:
            self._write_files(run_id, {artifact_file: media.encode(picture, artifact_file)})
            return None
        files = media.step_image_files(picture, key, step or 0, timestamp or _env.now_ms())
        if not async_logging.is_synchronous(synchronous):
            return async_logging.submit(self._log_step_image, run_id, files)
        self._log_step_image(run_id, files)
        return None

    def _log_step_image(self, run_id: str, files: dict[str, bytes]) -> None:
        self._write_files(run_id, files)
        self.set_tag(run_id, media.LOGGED_IMAGES_TAG, True)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> None:
        """A DataFrame or dict as MLflow's table artifact; logging to the same file appends rows."""
        media.check_table_file(artifact_file)
        frame = media.table_frame(data)
        files: dict[str, bytes] = {}
        # Images can only sit in object columns (text columns are "str" in pandas 3: never images).
        for column in [name for name in frame.columns if frame[name].dtype == object]:
            flags = frame[column].map(media.is_image)
            if flags.any() and not flags.all():
                raise ValueError(
                    f"Column `{column}` contains a mix of images and non-images. Please ensure that all "
                    "elements in the column are of the same type."
                )
            if flags.all():
                frame[column] = frame[column].map(lambda image: self._table_image(image, artifact_file, files))
        folder = posixpath.dirname(posixpath.normpath(artifact_file)) or None
        if artifact_file in {item.path for item in self.list_artifacts(run_id, folder)}:
            import pandas as pd

            with tempfile.TemporaryDirectory() as tmp:
                existing = Path(self.download_artifacts(run_id, artifact_file, tmp)).read_bytes()
            frame = pd.concat([media.read_table(existing, artifact_file), frame], ignore_index=True)
        try:
            files[artifact_file] = media.table_bytes(frame, artifact_file)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidParameterValue(f"cannot save the table {artifact_file}: it is not JSON serializable ({exc})") from None
        self._write_files(run_id, files)
        tag = media.logged_artifacts_tag(self.get_run(run_id).data.tags.get(media.LOGGED_ARTIFACTS_TAG), artifact_file)
        if tag is not None:
            self.set_tag(run_id, media.LOGGED_ARTIFACTS_TAG, tag)

    @staticmethod
    def _table_image(image: Any, artifact_file: str, files: dict[str, bytes]) -> dict[str, str]:
        stem = media.table_image_path(artifact_file)
        files[f"{stem}.png"] = media.encode(image, ".png")
        files[f"{stem}.webp"] = media.encode(media.compressed(image), ".webp")
        return {"type": "image", "filepath": f"{stem}.png", "compressed_filepath": f"{stem}.webp"}

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[FileInfo]:
        validation.validate_run_id(run_id)
        return self._store().list_artifacts(run_id, validation.validate_artifact_path(path))

    def download_artifacts(self, run_id: str, path: str, dst_path: str | None = None) -> str:
        validation.validate_run_id(run_id)
        return artifacts.download(self._store(), run_id, path, dst_path)

    def get_artifact_uri(self, run_id: str, artifact_path: str | None = None) -> str:
        uri = self.get_run(run_id).info.artifact_uri
        relative = validation.validate_artifact_path(artifact_path)
        return f"{uri.rstrip('/')}/{relative}" if relative else uri
