"""Shared pytest fixtures: the browser, a fresh logging-client store, and the demo store most site tests build."""
from __future__ import annotations

# --- Browser tests (Playwright driving Debian's Chromium) -----------------------------------------------
import os
import warnings

import pytest

# A store naming s3:// must never make botocore look for credentials at the instance metadata address
# (off this machine): tests give credentials in the environment or none.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

CHROMIUM = os.environ.get("REPORTGEN_CHROMIUM", "/usr/bin/chromium")
# Flags measured on these machines: without the networking ones Chromium keeps trying to reach the internet.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

# pytest-playwright 0.10 under pytest 9 emits one PytestRemovedIn10Warning; it is not ours to fix.
warnings.filterwarnings("ignore", category=pytest.PytestRemovedIn10Warning)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore::pytest.PytestRemovedIn10Warning")
    config.addinivalue_line("markers", "browser: needs headless Chromium (skipped when it is missing)")
    config.addinivalue_line("markers", "oracle: compares with real MLflow (skipped when mlflow is missing)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch args plus Debian's Chromium (playwright install cannot download here)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) to run browser tests")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        # Playwright gives every launch a fresh temporary profile (the --user-data-dir of the reference).
        "args": CHROMIUM_FLAGS,
    }


# --- Logging client: a fresh file store per test, fluent state reset ----------------------------------
def _reset_tracking_state() -> None:
    from reportgen.tracking import _uri, fluent

    while fluent._stack():
        fluent._stack().pop()
    fluent._thread_state.last_run_id = None
    fluent._active_experiment_id = None
    _uri.set_tracking_uri(None)


_MLFLOW_ENVIRONMENT = {name: os.environ.get(name) for name in
                       ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI")}


@pytest.fixture(autouse=True)
def _no_leaked_mlflow_environment():
    """Real MLflow's set_experiment and start_run record the experiment and run in os.environ (also from
    module-scoped fixtures): after each test they are what they were when the session began."""
    yield
    for name, value in _MLFLOW_ENVIRONMENT.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def tracking_root(tmp_path, monkeypatch):
    """An mlruns/ folder (not yet created) set as the tracking URI; fluent state clean before and after."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    _reset_tracking_state()
    root = tmp_path / "mlruns"
    from reportgen.tracking import _uri

    _uri.set_tracking_uri(str(root))
    yield root
    _reset_tracking_state()


# --- Site tests: the demo store (tests/site_stores.py); files that need another store define their own --
@pytest.fixture
def store(tmp_path):
    from site_stores import demo_store

    return demo_store(tmp_path / "mlruns")
