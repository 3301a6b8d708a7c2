"""The clock, ids and run names of the logging client, in one place so they can be replaced.

All tracking code calls these as module attributes (`_env.now_ms()`), so a deterministic generator
(the sample store's) can monkeypatch them with a fixed clock and fixed ids.
"""
from __future__ import annotations

import random
import time
import uuid

# MLflow 3.x experiment ids are random 18-digit integers (mlflow.utils.name_utils).
_EXPERIMENT_ID_WIDTH = 18

# Two short word lists for MLflow-style run names ("bright-fox-123").
_ADJECTIVES = (
    "able", "amber", "bold", "brave", "bright", "calm", "clever", "crisp", "dapper", "eager",
    "fancy", "gentle", "glad", "golden", "honest", "jolly", "keen", "lively", "lucky", "merry",
    "mighty", "nimble", "polite", "proud", "quick", "quiet", "rare", "silent", "smooth", "sunny",
    "swift", "tidy", "vast", "warm", "wise", "witty",
)
_NOUNS = (
    "ant", "bat", "bear", "bee", "cat", "crab", "crow", "deer", "dove", "duck", "eel", "elk",
    "finch", "fox", "frog", "goat", "hare", "hawk", "ibis", "koala", "lark", "lion", "lynx",
    "mole", "moth", "newt", "owl", "panda", "seal", "shrew", "slug", "squid", "swan", "toad",
    "trout", "wolf", "wren", "yak",
)


def now_ms() -> int:
    """Milliseconds since the epoch (MLflow's get_current_time_millis)."""
    return time.time_ns() // 1_000_000


def new_run_id() -> str:
    """A run id as MLflow makes them: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def new_experiment_id() -> str:
    """An experiment id as MLflow 3.x makes them: a random 18-digit integer, as a string."""
    digits = str(uuid.uuid4().int)[-_EXPERIMENT_ID_WIDTH:]
    significant = digits.lstrip("0")
    # Leading zeros would shorten the id once read as an int: MLflow pads with random digits instead.
    padding = "".join(random.choice("0123456789") for _ in range(len(digits) - len(significant)))
    return significant + padding if significant else "1" + padding[1:]


def random_run_name() -> str:
    """An MLflow-style run name, e.g. "swift-owl-417" (at most 20 characters)."""
    name = f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}-{random.randint(0, 999)}"
    return name[:20]
