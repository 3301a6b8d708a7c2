"""Secrets kept out of the published site: values of secret-like params and tags, user:password@ in URIs,
and the literal value of tracking credentials found in the environment.
"""
from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from reportgen.model import Experiment, Run, RunData, RunInfo

REDACTED = "[redacted]"
# Words of a key that make its value a secret. Keys are split into words (db_password, apiKey, X-Auth)
# so that max_passes, max_tokens or tokenizer stay visible while hf_token and client_secret do not.
_SECRET_WORDS = frozenset({
    "password", "passwd", "passphrase", "pwd", "pass", "secret", "secrets", "token", "apikey",
    "accesskey", "privatekey", "credential", "credentials", "auth", "authorization", "signature",
})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("session", "key"), ("secret", "key")})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


def _is_secret_name(key: str) -> bool:
    words = [word.lower() for word in _WORD_SPLIT.split(key) if word]
    return any(word in _SECRET_WORDS for word in words) or any(pair in _SECRET_PAIRS for pair in zip(words, words[1:]))


# MLflow's own tags that look secret-like by name but are not.
_SAFE_KEYS = frozenset({"mlflow.source.git.commit", "mlflow.user"})
# user:password@ or token@ inside any URL-looking text.
_USERINFO_RE = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
# Environment variables whose values must never appear in a page.
_SECRET_ENV = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "DATABRICKS_TOKEN", "AWS_SECRET_ACCESS_KEY")
# Bounds the cost of a pathological value (multi-MB tags are capped later anyway).
_MIN_SECRET_LEN = 6


def strip_userinfo(text: str) -> str:
    """Text with every `scheme://user:pass@` reduced to `scheme://`."""
    if "@" not in text:
        return text
    return _USERINFO_RE.sub(lambda m: m.group("scheme"), text)


@dataclass
class Redactor:
    """Decides which keys are secret and scrubs values; `patterns` are globs on keys (--redact)."""

    patterns: tuple[str, ...] = ()
    env_secrets: tuple[str, ...] = field(default_factory=tuple)
    count: int = 0
    # Keys repeat across thousands of runs: each is judged once.
    _secret_keys: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    _secret_set: set[str] = field(default_factory=set, repr=False, compare=False)  # those judged secret

    @classmethod
    def from_options(cls, patterns: Iterable[str] = (), *, environ: Mapping[str, str] | None = None) -> "Redactor":
        environ = os.environ if environ is None else environ
        secrets = tuple(
            sorted({environ[name] for name in _SECRET_ENV if len(environ.get(name, "")) >= _MIN_SECRET_LEN})
        )
        return cls(patterns=tuple(patterns), env_secrets=secrets)

    def is_secret_key(self, key: str) -> bool:
        found = self._secret_keys.get(key)
        if found is None:
            found = self._secret_keys[key] = self._judge_key(key)
            if found:  # for _any_secret, whoever asked first (an experiment's tags are judged too)
                self._secret_set.add(key)
        return found

    def _judge_key(self, key: str) -> bool:
        if key in _SAFE_KEYS:
            return False
        if _is_secret_name(key):
            return True
        lowered = key.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in self.patterns)

    def _may_hide(self, value: str) -> bool:
        """Whether text() could change the value (a cheap test first: most values are numbers)."""
        return "@" in value or any(secret in value for secret in self.env_secrets)

    def text(self, value: str) -> str:
        """A free-text value with userinfo and known secret values removed."""
        cleaned = strip_userinfo(value)
        for secret in self.env_secrets:
            if secret in cleaned:
                cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != value:
            self.count += 1
        return cleaned

    def mapping(self, values: Mapping[str, str]) -> dict[str, str]:
        if not any(self.is_secret_key(key) or (isinstance(value, str) and self._may_hide(value))
                   for key, value in values.items()):
            return dict(values)
        result = {}
        for key, value in values.items():
            if self.is_secret_key(key):
                self.count += 1
                result[key] = REDACTED
            else:
                result[key] = self.text(value) if isinstance(value, str) else value
        return result

    def run(self, run: Run) -> Run:
        if not self._touches(run):
            return run
        info: RunInfo = replace(
            run.info, artifact_uri=self.text(run.info.artifact_uri), run_name=self.text(run.info.run_name)
        )
        data: RunData = replace(run.data, params=self.mapping(run.data.params), tags=self.mapping(run.data.tags))
        inputs = replace(
            run.inputs,
            dataset_inputs=tuple(
                replace(item, dataset=replace(item.dataset, source=self.text(item.dataset.source)))
                for item in run.inputs.dataset_inputs
            ),
        )
        return replace(run, info=info, data=data, inputs=inputs)

    def _any_secret(self, keys: Iterable[str]) -> bool:
        """Whether a key is secret; each key is judged once (and those found secret kept as a set)."""
        for key in set(keys) - self._secret_keys.keys():
            self.is_secret_key(key)
        return not self._secret_set.isdisjoint(keys)

    def runs(self, runs: list[Run]) -> list[Run]:
        """[self.run(r) for r in runs]. Most stores hold nothing to redact: that is found in one pass
        over all their keys and texts (one run at a time cost 20 us a run)."""
        keys: set[str] = set()
        texts: list[str] = []
        for run in runs:
            params, tags = run.data.params, run.data.tags
            keys.update(params)
            keys.update(tags)
            texts += (run.info.artifact_uri or "", run.info.run_name or "", *params.values(), *tags.values(),
                      *(item.dataset.source or "" for item in run.inputs.dataset_inputs))
        try:
            clean = not self._any_secret(keys) and not self._may_hide("\0".join(texts))
        except TypeError:  # a value that is not text: the runs one by one
            clean = False
        return list(runs) if clean else [self.run(run) for run in runs]

    def _touches(self, run: Run) -> bool:
        """Whether run() would change anything in the run. Thousands of runs: the keys are looked up as
        sets, and the texts tested joined ("\0" is in no secret, so no match spans two of them)."""
        params, tags = run.data.params, run.data.tags
        if self._any_secret(params.keys()) or self._any_secret(tags.keys()):
            return True
        texts = [run.info.artifact_uri or "", run.info.run_name or "",
                 *(item.dataset.source or "" for item in run.inputs.dataset_inputs),
                 *(v for v in params.values() if isinstance(v, str)),
                 *(v for v in tags.values() if isinstance(v, str))]
        return self._may_hide("\0".join(texts))

    def experiment(self, experiment: Experiment) -> Experiment:
        return replace(
            experiment,
            artifact_location=self.text(experiment.artifact_location),
            tags=self.mapping(experiment.tags),
        )
