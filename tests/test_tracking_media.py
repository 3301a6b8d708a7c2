"""log_image, log_table, log_inputs and asynchronous logging: the checks MLflow makes, and what lands."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from reportgen.errors import InvalidParameterValue
from reportgen.tracking import MlflowException, RunOperations, TrackingClient, async_logging
from reportgen.tracking.entities import Dataset, DatasetInput, InputTag


@pytest.fixture
def client(tracking_root):
    return TrackingClient(str(tracking_root))


@pytest.fixture
def run_id(client):
    return client.create_run("0").info.run_id


def _files(client, run_id, path=None):
    found = []
    for item in client.list_artifacts(run_id, path):
        found.extend(_files(client, run_id, item.path) if item.is_dir else [item.path])
    return found


def test_log_image_refuses_what_mlflow_refuses(client, run_id):
    with pytest.raises(TypeError, match="cannot be used in conjunction"):
        client.log_image(run_id, np.zeros((2, 2)), artifact_file="a.png", key="k")
    with pytest.raises(TypeError, match="exactly one of"):
        client.log_image(run_id, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"Integer pixel values out of acceptable range \[0, 255\]"):
        client.log_image(run_id, np.full((2, 2), 300), key="k")
    with pytest.raises(ValueError, match="Invalid channel length: 2"):
        client.log_image(run_id, np.zeros((2, 2, 2)), key="k")
    with pytest.raises(ValueError, match="invalid characters"):
        client.log_image(run_id, np.zeros((2, 2)), key="a:b")
    with pytest.raises(TypeError, match="Unsupported image object type"):
        client.log_image(run_id, [[0, 1]], key="k")
    assert _files(client, run_id) == []


def test_log_image_per_step_writes_the_png_and_its_preview_and_tags_the_run(client, run_id):
    from PIL import Image

    with pytest.warns(UserWarning, match="Rescaling"):
        client.log_image(run_id, np.linspace(-1, 2, 600).reshape(20, 30), key="a/b", step=4, timestamp=123)
    webp, png = sorted(_files(client, run_id))
    assert png.startswith("images/a~b+step+4+timestamp+123+") and png.endswith(".png")
    assert webp == png[: -len(".png")] + "+compressed.webp"
    local = client.download_artifacts(run_id, webp)
    assert Image.open(local).size == (256, 170)  # the longer side scaled to 256, as MLflow's preview
    assert client.get_run(run_id).data.tags["mlflow.loggedImages"] == "True"


def test_log_table_appends_and_lists_the_table_once(client, run_id):
    with pytest.raises(ValueError, match="'.json' or '.parquet'"):
        client.log_table(run_id, {"a": [1]}, "t.csv")
    with pytest.raises(ValueError, match="forbidden character: :"):
        client.log_table(run_id, {"a": [1]}, "a:b.json")
    with pytest.raises(InvalidParameterValue, match="pandas.DataFrame or a dictionary"):
        client.log_table(run_id, [1, 2], "t.json")
    client.log_table(run_id, {"q": "What is MLflow?"}, "tables/t.json")  # all scalars: one row
    client.log_table(run_id, {"q": ["Why?"]}, "tables/t.json")
    with open(client.download_artifacts(run_id, "tables/t.json"), encoding="utf-8") as handle:
        assert json.load(handle) == {"columns": ["q"], "data": [["What is MLflow?"], ["Why?"]]}
    tag = client.get_run(run_id).data.tags["mlflow.loggedArtifacts"]
    assert json.loads(tag) == [{"path": "tables/t.json", "type": "table"}]


def test_log_inputs_checks_and_records_each_dataset_once(client, run_id, tracking_root):
    with pytest.raises(InvalidParameterValue, match=r"datasets\[0\] is not a DatasetInput"):
        client.log_inputs(run_id, [Dataset("d", "1", "local", "{}")])
    with pytest.raises(InvalidParameterValue, match=r"datasets\[0\].dataset.digest must be a non-empty string"):
        client.log_inputs(run_id, [DatasetInput(Dataset("d", "", "local", "{}"))])
    item = DatasetInput(Dataset("d", "1", "local", "{}"), (InputTag("mlflow.data.context", "training"),))
    client.log_inputs(run_id, [item])
    client.log_inputs(run_id, [item])
    assert len(list(tracking_root.glob("0/datasets/*/meta.yaml"))) == 1
    assert client.get_run(run_id).inputs.dataset_inputs == (item,)


def test_asynchronous_failures_surface_on_wait_and_in_the_log(client, run_id, caplog):
    operation = client.log_param(run_id, "bad key!", 1, synchronous=False)
    assert isinstance(operation, RunOperations)
    with pytest.raises(MlflowException, match="async logging operations"):
        operation.wait()
    good = client.log_metric(run_id, "m", 1.0, step=1, synchronous=False)
    with caplog.at_level(logging.ERROR):
        client.set_tag(run_id, "", "x", synchronous=False)
        async_logging.flush()  # waits, does not raise: the failure is in the log
    good.wait()
    assert "async logging failed" in caplog.text
    assert client.get_run(run_id).data.metrics == {"m": 1.0}


def test_environment_turns_asynchronous_logging_on(client, run_id, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "true")
    assert isinstance(client.log_metric(run_id, "m", 2.0), RunOperations)
    assert client.log_param(run_id, "p", 1, synchronous=True) == 1
    async_logging.flush()
    assert client.get_run(run_id).data.metrics == {"m": 2.0}
