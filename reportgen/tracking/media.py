"""Images and tables as MLflow 3 logs them: what files log_image and log_table write, and their bytes.

log_image with a key writes images/<key, / as ~>+step+<step>+timestamp+<ms>+<uuid>.png and a 256-pixel
.webp preview beside it (+compressed), and tags the run mlflow.loggedImages; log_table writes a pandas
"split" JSON (or parquet) file and lists it in the mlflow.loggedArtifacts tag.
"""
from __future__ import annotations

import io
import json
import os
import posixpath
import re
import uuid
import warnings
from typing import Any

from reportgen.errors import InvalidParameterValue, UnsupportedError

LOGGED_IMAGES_TAG = "mlflow.loggedImages"
LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"
IMAGES_DIR = "images"
TABLE_IMAGES_DIR = "table_images"
COMPRESSED_IMAGE_SIZE = 256
_IMAGE_KEY_RE = re.compile(r"^[a-zA-Z0-9_\-./ ]+$")
_TABLE_FORBIDDEN = ('"', "'", ",", ":", "[", "]", "{", "}")


def _pil():
    try:
        import PIL.Image
    except ImportError:
        raise UnsupportedError("log_image needs Pillow: pip install Pillow") from None
    return PIL.Image


def to_pil(image: Any):
    """A PIL image from a PIL image, an object with to_pil() (mlflow.Image) or a 2-D/3-D array.

    Arrays follow MLflow's rules: integers must lie in [0, 255]; floats are taken in [0, 1] and
    min-max rescaled (with a warning) when they leave it; 3-D arrays have 1, 3 or 4 channels.
    """
    pil = _pil()
    if isinstance(image, pil.Image):
        return image
    if hasattr(image, "to_pil"):
        return image.to_pil()
    import numpy as np

    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"Unsupported image object type: {type(image)}. `image` must be one of numpy.ndarray, "
            "PIL.Image.Image, and mlflow.Image."
        )
    if image.dtype.kind not in "biuf":
        raise TypeError(f"Invalid array data type: '{image.dtype}'. Must be bool, integer or floating")
    if image.ndim not in (2, 3):
        raise ValueError(f"`image` must be a 2D or 3D array but got image shape: {image.shape}")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise ValueError(f"Invalid channel length: {image.shape[2]}. Must be one of [1, 3, 4]")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    is_int = np.issubdtype(image.dtype, np.integer)
    high = 255 if is_int else 1
    if image.min() < 0 or image.max() > high:
        if is_int:
            raise ValueError(
                "Integer pixel values out of acceptable range [0, 255]. Found minimum value "
                f"{image.min()} and maximum value {image.max()}."
            )
        warnings.warn(
            f"Float pixel values out of acceptable range [0.0, 1.0]. Found minimum value {image.min()} and "
            f"maximum value {image.max()}. Rescaling values to [0.0, 1.0] with min/max scaler.",
            stacklevel=3,
        )
        image = (image - image.min()) / (image.max() - image.min())
    if not is_int:
        image = image * 255
    return pil.fromarray(image.astype(np.uint8))


def compressed(image):
    """The preview MLflow's UI loads: the image scaled to fit a 256-pixel square."""
    width, height = image.size
    if width > height:
        size = (COMPRESSED_IMAGE_SIZE, int(height * (COMPRESSED_IMAGE_SIZE / width)))
    else:
        size = (int(width * (COMPRESSED_IMAGE_SIZE / height)), COMPRESSED_IMAGE_SIZE)
    return image.resize(size)


def encode(image, file_name: str) -> bytes:
    """The image in the format its file name's suffix names (PIL chooses by suffix, as MLflow's save)."""
    buffer = io.BytesIO()
    suffix = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    image.save(buffer, format=_pil().registered_extensions().get(suffix))
    return buffer.getvalue()


def step_image_files(image, key: str, step: int, timestamp: int) -> dict[str, bytes]:
    """The two files of one image at one step: artifact path -> bytes."""
    if not _IMAGE_KEY_RE.match(key):
        raise ValueError(
            "The `key` parameter may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
            f"spaces ( ), and slashes (/).The provided key `{key}` contains invalid characters."
        )
    stem = f"{IMAGES_DIR}/{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
    return {f"{stem}.png": encode(image, ".png"), f"{stem}+compressed.webp": encode(compressed(image), ".webp")}


def check_table_file(artifact_file: str) -> None:
    for char in _TABLE_FORBIDDEN:
        if char in artifact_file:
            raise ValueError(f"The artifact_file contains forbidden character: {char}")
    if not artifact_file.endswith((".json", ".parquet")):
        raise ValueError(
            f"Invalid artifact file path '{artifact_file}'. Please ensure the file you are trying to log as a "
            "table has a file name with either '.json' or '.parquet' extension."
        )


def table_frame(data: Any):
    """A DataFrame from a DataFrame or a dict (a dict of scalars is one row, as in MLflow)."""
    import pandas as pd

    if not isinstance(data, (pd.DataFrame, dict)):
        raise InvalidParameterValue("data must be a pandas.DataFrame or a dictionary")
    if isinstance(data, pd.DataFrame):
        return data.copy()
    try:
        return pd.DataFrame(data)
    except ValueError:  # all scalars: "If using all scalar values, you must pass an index"
        return pd.DataFrame([data])


def is_image(value: Any) -> bool:
    return all(callable(getattr(value, name, None)) for name in ("save", "resize")) and hasattr(value, "size")


def table_image_path(artifact_file: str) -> str:
    return posixpath.join(TABLE_IMAGES_DIR, os.path.splitext(artifact_file)[0], str(uuid.uuid4()))


def table_bytes(frame, artifact_file: str) -> bytes:
    if artifact_file.endswith(".json"):
        return frame.to_json(orient="split", index=False, date_format="iso").encode("utf-8")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def read_table(data: bytes, artifact_file: str):
    import pandas as pd

    if artifact_file.endswith(".json"):
        return pd.read_json(io.StringIO(data.decode("utf-8")), orient="split")
    return pd.read_parquet(io.BytesIO(data))


def logged_artifacts_tag(current: str | None, artifact_file: str) -> str | None:
    """The new value of mlflow.loggedArtifacts listing this table, or None when it is listed already."""
    entries = json.loads(current or "[]")
    entry = {"path": artifact_file, "type": "table"}
    if entry in entries:
        return None
    return json.dumps([*entries, entry])
