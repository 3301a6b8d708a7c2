"""reportgen.stores.objectstore without a server: which URIs are object store roots and how they are
parsed and confined, MLflow's S3 variables as s3fs options, the one-line advice of each missing extra
(gcsfs and adlfs are not installed by the test extra: their advice is checked for real), and keys that
are not plain relative paths in a listing (AWS allows '../x'; SeaweedFS refuses to store them, so
tests/test_s3_artifacts.py checks percent-encoded ones on the server)."""
from __future__ import annotations

import importlib.util

import pytest

from reportgen.errors import InvalidParameterValue, ReportgenError
from reportgen.stores import _objectfs, objectstore
from reportgen.stores.artifacts import object_root, resolve_root
from reportgen.stores.objectstore import ObjectRoot, parse
from reportgen.stores.server_artifacts import destination_folder, root_on_destination

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("uri, root", [
    ("s3://bucket/1/run/artifacts", ObjectRoot("s3", "bucket", "1/run/artifacts")),
    ("s3://bucket/", ObjectRoot("s3", "bucket", "")),
    ("gs://b/x//y/", ObjectRoot("gs", "b", "x/y")),
    ("wasbs://box@acct.blob.core.windows.net/p/q", ObjectRoot("wasbs", "box", "p/q", "acct")),
    ("abfss://fs@acct.dfs.core.windows.net/p", ObjectRoot("abfss", "fs", "p", "acct")),
])
def test_object_store_uris_parse(uri, root):
    assert parse(uri) == root
    assert parse(root.uri) == root  # what messages and cache keys show reads back the same


@pytest.mark.parametrize("uri", ["s3://key:secret@bucket/x", "s3://bucket/a/../../b", "s3://bucket/x?versionId=1",
                                 "s3://bucket/%2e%2e/x", "s3:///nobucket", "wasbs://acct.blob.core.windows.net/x",
                                 "s3://bucket:9000/x"])
def test_odd_uris_are_refused_and_the_refusal_carries_no_secret(uri):
    with pytest.raises(InvalidParameterValue) as caught:
        parse(uri)
    assert "secret" not in str(caught.value)


def test_a_run_reads_only_its_own_prefix():
    assert object_root(f"s3://b/1/{RUN}/artifacts", RUN).path == ObjectRoot("s3", "b", f"1/{RUN}/artifacts")
    for uri in ("s3://b/1/other/artifacts", "s3://b", f"s3://b/1/{RUN}x/artifacts"):
        refused = object_root(uri, RUN)
        assert refused.path is None and refused.remote == uri and refused.reason
    assert object_root(f"s3://b/1/{RUN}/artifacts", None).path is None  # a caller naming no run reads nothing
    # resolve_root hands s3:// to object_root (a SQL store's run), the run's id required
    assert resolve_root(f"s3://b/2/{RUN}/artifacts", fallback=None, allowed=[], run_id=RUN).path is not None
    assert resolve_root("s3://b/2/x/artifacts", fallback=None, allowed=[], run_id=RUN).path is None


def test_a_server_destination_on_s3_maps_mlflow_artifacts_uris():
    destination = destination_folder("s3://bucket/served")
    assert destination == ObjectRoot("s3", "bucket", "served")
    mapped = root_on_destination(f"mlflow-artifacts:/3/{RUN}/artifacts", destination, RUN)
    assert mapped.path == ObjectRoot("s3", "bucket", f"served/3/{RUN}/artifacts")
    host = root_on_destination(f"mlflow-artifacts://127.0.0.1:5000/3/{RUN}/artifacts", destination, RUN)
    assert host.path == mapped.path
    for uri in (f"mlflow-artifacts:/3/../../{RUN}", "mlflow-artifacts:/", f"mlflow-artifacts:/3/{RUN[:-1]}0"):
        assert root_on_destination(uri, destination, RUN).path is None, uri


@pytest.mark.parametrize("uri, package, extra", [
    ("gs://bucket/x", "gcsfs", "gcs"), ("wasbs://c@a.blob.core.windows.net/x", "adlfs", "azure"),
    ("abfss://c@a.dfs.core.windows.net/x", "adlfs", "azure"),
])
def test_each_store_without_its_extra_says_which_to_install(uri, package, extra):
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed here")
    advice = f"pip install 'reportgen[{extra}]'"
    assert objectstore.missing_extra(uri).endswith(advice) and package in objectstore.missing_extra(uri)
    refused = object_root(uri.replace("/x", f"/x/{RUN}/artifacts"), RUN)
    assert refused.path is None and refused.reason.endswith(advice)
    with pytest.raises(ReportgenError, match=r"pip install 'reportgen\[" + extra):
        destination_folder(uri)


def test_mlflow_s3_variables_become_s3fs_options(monkeypatch):
    for name in ("MLFLOW_S3_ENDPOINT_URL", "MLFLOW_S3_IGNORE_TLS", "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE",
                 "MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "MLFLOW_S3_UPLOAD_EXTRA_ARGS"):
        monkeypatch.delenv(name, raising=False)
    plain = _objectfs._s3_options()
    assert "endpoint_url" not in plain and "anon" not in plain and plain["client_kwargs"] == {}
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("MLFLOW_S3_IGNORE_TLS", "true")
    monkeypatch.setenv("MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE", "path")
    monkeypatch.setenv("MLFLOW_EXPERIMENTAL_S3_SIGNATURE_VERSION", "unsigned")
    monkeypatch.setenv("MLFLOW_S3_UPLOAD_EXTRA_ARGS", '{"ServerSideEncryption": "AES256"}')
    options = _objectfs._s3_options()
    assert options["endpoint_url"] == "http://127.0.0.1:9000" and options["anon"] is True
    assert options["client_kwargs"] == {"verify": False}
    assert options["config_kwargs"]["s3"] == {"addressing_style": "path"}
    assert options["s3_additional_kwargs"] == {"ServerSideEncryption": "AES256"}
    monkeypatch.setenv("MLFLOW_S3_UPLOAD_EXTRA_ARGS", "not json")
    with pytest.raises(ReportgenError, match="MLFLOW_S3_UPLOAD_EXTRA_ARGS"):
        _objectfs._s3_options()


def test_credentials_are_never_in_a_filesystem_key(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-1")
    first = _objectfs._settings(ObjectRoot("s3", "b", "p"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-value-2")
    second = _objectfs._settings(ObjectRoot("s3", "b", "p"))
    assert first != second  # new credentials, new client
    assert not any("very-secret" in str(part) for part in first + second)


def test_a_listing_with_unsafe_keys_keeps_only_plain_paths(monkeypatch):
    """What an AWS bucket can hold: '../' and absolute-looking keys, folder markers, hidden names."""
    root = ObjectRoot("s3", "b", f"1/{RUN}/artifacts")
    base = root.path + "/"
    listing = {base + key: {"size": size, "type": "file"} for key, size in [
        ("ok.txt", 3), ("../../../etc/passwd", 5), ("a/../../x", 1), ("/abs", 1), ("a//b", 1), ("back\\slash", 1),
        (".env", 9), ("dir/", 0), ("deep/f.bin", 7)]}
    monkeypatch.setattr(objectstore, "_listing", lambda *_: listing)
    skipped = []
    files = objectstore.walk(root, on_skip=lambda where, why: skipped.append((where, why)), max_files=100)
    assert [(f.path, f.file_size) for f in files] == [("deep/f.bin", 7), ("ok.txt", 3)]
    assert len(skipped) == 6 and all(where.startswith(root.uri) for where, _ in skipped)
    with pytest.raises(InvalidParameterValue):
        objectstore.open_file(root, "../../../etc/passwd")


def test_an_unreachable_endpoint_is_waited_for_once(monkeypatch):
    """The first run's listing meets the refused connection (after the client's retries); the next
    runs of the build are told at once, with the same one-line reason."""
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setattr(_objectfs, "_UNREACHABLE", {})  # what this test marks is forgotten after it
    for name, value in {"MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "id",
                        "AWS_SECRET_ACCESS_KEY": "not-a-real-secret", "AWS_EC2_METADATA_DISABLED": "true",
                        "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}.items():
        monkeypatch.setenv(name, value)
    reasons: list[str] = []
    started = time.monotonic()
    objectstore.walk(ObjectRoot("s3", "b", f"1/{RUN}/artifacts"), max_files=10,
                     on_skip=lambda where, why: reasons.append(why))
    first = time.monotonic() - started
    started = time.monotonic()
    objectstore.walk(ObjectRoot("s3", "b", f"2/{RUN}/artifacts"), max_files=10,
                     on_skip=lambda where, why: reasons.append(why))
    assert time.monotonic() - started < min(1.0, first / 2)
    assert len(reasons) == 2 and all("EndpointConnectionError" in why for why in reasons)
    assert "unreachable" in reasons[1]
