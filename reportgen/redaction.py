"""The one redaction policy: which keys hold secrets, which parts of a value are credentials, and the
values of credential environment variables. Every output (site, exports, summary, check, errors, logs,
caches) takes its data through a Redactor, so no two outputs can disagree on what is a secret.
"""
from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from reportgen.model import Experiment, Problem, Run, RunInfo

REDACTED = "[redacted]"

# -- secret names -----------------------------------------------------------------------------------
# A key is split into tokens (db_password, apiKey, X-Auth-Token, password1, AWS_SECRET_ACCESS_KEY) and
# judged by its tokens, so that max_tokens, tokenizer, passes or key_metric stay visible.
_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])"
                    r"|(?<=[0-9])(?=[A-Za-z])")
# A token that is a secret on its own. Plural "tokens" is not here: it counts them (max_tokens).
_WORDS = frozenset({
    "token", "secret", "secrets", "password", "passwords", "passwd", "pass", "pwd", "passphrase", "passcode",
    "auth", "authorization", "credential", "credentials", "creds", "cookie", "cookies", "dsn", "connstr",
    "connstring", "connectionstring", "apikey", "apikeys", "accesskey", "privatekey", "secretkey", "sessionkey",
    "jwt", "bearer", "apitoken", "accesstoken", "authtoken", "refreshtoken",
})
# Words glued to anything before them stay secret (accesstoken, dbpassword, clientsecret).
_GLUED_TAILS = ("password", "passwd", "passphrase", "secret", "token", "credential", "credentials", "cookie")
# ... and followed by these (secretkey, passwordhash, tokenvalue); "tokenizer" has none of them.
_GLUED_ENDS = ("key", "keys", "value", "val", "str", "string", "hash", "b64", "hex")
# "pass" and "pwd" are too short to match glued to anything (compass, bypass): only after these.
_PASS_OWNERS = frozenset({
    "admin", "db", "root", "user", "login", "master", "sys", "sudo", "ftp", "smtp", "mail", "redis", "mysql",
    "pg", "postgres", "sql", "app", "api", "wifi", "vault", "my", "proxy", "ldap", "bind", "sa", "ssh",
})
# "key" is a secret only after one of these (api_key, wandb_key, ssh_key; not key_metric, primary_key).
_KEY_OWNERS = frozenset({
    "api", "access", "secret", "private", "ssh", "encryption", "encrypt", "signing", "session", "client",
    "master", "auth", "wandb", "hf", "huggingface", "openai", "anthropic", "aws", "gcp", "google", "azure",
    "github", "gh", "gitlab", "slack", "stripe", "sendgrid", "twilio", "mapbox", "comet", "neptune", "pinecone",
    "cohere", "mistral", "groq", "replicate", "databricks", "kaggle", "storage", "account", "service",
    "consumer", "shared", "deploy", "gpg", "pgp", "rsa", "tls", "ssl", "hmac", "cipher", "vault", "license",
    "subscription", "mlflow",
})
_LONG_KEY_OWNERS = tuple(owner for owner in _KEY_OWNERS if len(owner) >= 3)
# "token" next to one of these counts tokens (token_count, max_token), unless an owner says it is a
# credential (access_token_max stays secret).
_COUNTING = frozenset({"count", "counts", "len", "length", "limit", "budget", "max", "min", "num", "n", "size",
                       "per", "total", "ids", "type", "types", "usage", "rate", "index", "idx"})
_TOKEN_OWNERS = frozenset({"access", "refresh", "auth", "api", "bearer", "session", "personal", "bot", "oauth",
                           "github", "gh", "hf", "huggingface", "slack", "databricks", "mlflow", "wandb",
                           "security", "csrf", "xsrf"}) | _KEY_OWNERS
# MLflow's own tags that could read as secrets by a looser rule but are not.
_SAFE_KEYS = frozenset({"mlflow.source.git.commit", "mlflow.user"})


def name_tokens(key: str) -> list[str]:
    return [token.lower() for token in _SPLIT.split(key) if token]


def _glued(token: str) -> bool:
    for word in _GLUED_TAILS:
        if token.endswith(word) or any(token == word + end for end in _GLUED_ENDS):
            return True
    for word in ("pass", "pwd"):
        if token.endswith(word) and token[: -len(word)] in _PASS_OWNERS:
            return True
    return token.endswith(("key", "keys")) and _owns_key(token.rstrip("s")[:-3])


def _owns_key(word: str) -> bool:
    """Whether `key` after `word` names a credential: api, wandb, ... or a longer one glued (dbapi)."""
    return word in _KEY_OWNERS or any(word.endswith(owner) for owner in _LONG_KEY_OWNERS)


@functools.lru_cache(maxsize=8192)
def is_secret_name(key: str) -> bool:
    """Whether a param, tag or variable named `key` holds a secret, by the tokens of its name."""
    if key in _SAFE_KEYS:
        return False
    tokens = name_tokens(key)
    counting = _TOKEN_OWNERS.isdisjoint(tokens) and not _COUNTING.isdisjoint(tokens)
    for index, token in enumerate(tokens):
        before = tokens[index - 1] if index else ""
        if token == "token" and counting:
            continue
        if token in _WORDS or (token not in ("tokens", "tokenizer") and _glued(token)):
            return True
        if token in ("key", "keys") and _owns_key(before):
            return True
        if (before, token) in (("connection", "string"), ("conn", "str"), ("conn", "string")):
            return True
    return False


# -- secret values ----------------------------------------------------------------------------------
# user:password@ (or a token@) inside any URL-looking text: replaced by USERINFO_REDACTED (a word a URL
# parser still takes as userinfo; "[...]" in a host part reads as an IPv6 literal and fails to parse).
USERINFO_REDACTED = "redacted"
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/\s?#]+)@")
# Credentials recognisable by their shape, whatever the key: AWS key ids, GitHub, Hugging Face, OpenAI,
# Slack and GitLab tokens, JWTs, PEM private keys, and the value of an Authorization header.
_SHAPES = re.compile(
    r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
    r"|\bhf_[A-Za-z0-9]{30,}"
    r"|\bsk-[A-Za-z0-9_-]{20,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}"
    r"|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|-----BEGIN[A-Z ]*PRIVATE KEY-----(?:.*?-----END[A-Z ]*PRIVATE KEY-----|.*)"
    r"|(?<=\b[Bb]earer )[A-Za-z0-9._~+/=-]{6,}|(?<=\bBEARER )[A-Za-z0-9._~+/=-]{6,}"
    r"|(?<=\b[Bb]asic )[A-Za-z0-9+/]{8,}={0,2}",
    re.DOTALL,
)
# NAME=value, NAME: value, "NAME": "value", --NAME value: the value is hidden when NAME is a secret name
# (?password=, &token=, api_key=..., Authorization: Bearer ...). The value is only looked ahead at, so
# that a name inside it is judged too (postgresql://h/db?password=...).
_ASSIGNED = re.compile(
    r"(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?P<sep>[\"']?[ \t]*[=:][ \t]*[\"']?|[ \t]+(?=[^-\s]))"
    r"(?=(?P<value>(?:(?:[Bb]earer|[Bb]asic|[Tt]oken|[Dd]igest)[ \t]+)?[^\s&;,'\"<>]+))"
)
# Cheap first test: a value can only change when, lowercased, it holds one of these (every secret name
# holds one, and so does every credential shape). Substring tests: a regex alternation took 20x longer.
_HINTS = ("pass", "pwd", "token", "secret", "auth", "cred", "cookie", "dsn", "key", "conn", "bearer", "basic",
          "jwt", "@", "akia", "asia", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "hf_", "sk-", "xox",
          "glpat-", "eyj", "-----begin")

# Credential environment variables whose values are hidden wherever they appear (CI logs and pages).
SECRET_ENV = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_PASSWORD", "DATABRICKS_TOKEN", "AWS_SECRET_ACCESS_KEY",
              "AWS_SESSION_TOKEN", "HF_TOKEN", "GITHUB_TOKEN", "WANDB_API_KEY")
# Secret-sounding names whose values are not secrets (a folder, a socket).
_PLAIN_ENV = frozenset({"PWD", "OLDPWD", "SSH_AUTH_SOCK", "GPG_AGENT_INFO", "XAUTHORITY", "KRB5CCNAME",
                        "PASSWORD_STORE_DIR", "GNUPGHOME"})
_MIN_ENV_SECRET = 8  # shorter values would hide common words


def env_secrets(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The values of credential variables: SECRET_ENV and any variable with a secret name."""
    environ = os.environ if environ is None else environ
    found = set()
    for name, value in environ.items():
        if len(value) < _MIN_ENV_SECRET or name in _PLAIN_ENV:
            continue
        if name in SECRET_ENV or is_secret_name(name):
            if os.path.isabs(value) and os.path.exists(value):  # a folder or a socket, not a secret
                continue
            found.add(value)
    return tuple(sorted(found, key=lambda v: (-len(v), v)))  # longest first: no part of one left behind


@dataclass
class Redactor:
    """Decides which keys are secret and scrubs values.

    patterns: globs on keys (--redact), always applied. default: the built-in name and value rules
    (off with --no-default-redaction). env_secrets: literal values hidden in any text."""

    patterns: tuple[str, ...] = ()
    env_secrets: tuple[str, ...] = ()
    default: bool = True
    env_found: set[str] = field(default_factory=set, repr=False, compare=False)  # env secrets met in a text
    # Keys repeat across thousands of runs: each is judged once.
    _judged: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    _secret_set: set[str] = field(default_factory=set, repr=False, compare=False)  # those judged secret

    @classmethod
    def from_options(cls, patterns: Iterable[str] = (), *, default: bool = True,
                     environ: Mapping[str, str] | None = None) -> "Redactor":
        return cls(patterns=tuple(patterns), env_secrets=env_secrets(environ), default=default)

    def fingerprint(self, *, env: bool = True) -> str:
        """A digest of the rules (for cache keys): other rules, other redacted data. env=False leaves the
        environment's secrets out (they change with every CI job's token; hiding more is always safe)."""
        return self._digest(self.env_secrets if env else ())

    def found_fingerprint(self) -> str:
        """fingerprint() with only the environment's secrets that some text held so far: the key of pages
        rendered from that text. A CI job's fresh token is in no run, so it leaves the key alone."""
        return self._digest(sorted(self.env_found))

    def _digest(self, secrets: Iterable[str]) -> str:
        text = "\0".join(("v1", str(self.default), *self.patterns, "env", *secrets))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def scrub(self, item: Run | RunInfo) -> Run | RunInfo:
        """run() or run_info(), by type (for what a store's read cache keeps)."""
        return self.run(item) if isinstance(item, Run) else self.run_info(item)

    # -- keys ----------------------------------------------------------------------------------------
    def is_secret_key(self, key: str) -> bool:
        found = self._judged.get(key)
        if found is None:
            found = self._judged[key] = self._judge(key)
            if found:
                self._secret_set.add(key)
        return found

    def _judge(self, key: str) -> bool:
        if self.default and is_secret_name(key):
            return True
        lowered = key.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in self.patterns)

    def _any_secret(self, keys: Iterable[str]) -> bool:
        keys = set(keys)
        for key in keys - self._judged.keys():
            self.is_secret_key(key)
        return not self._secret_set.isdisjoint(keys)

    # -- values --------------------------------------------------------------------------------------
    def may_hide(self, value: str) -> bool:
        """Whether text() could change the value (substring tests only; texts may be tested joined by "\\0")."""
        if self.default:
            lowered = value.lower()
            if any(hint in lowered for hint in _HINTS):
                return True
        return any(secret in value for secret in self.env_secrets)

    def text(self, value: str) -> str:
        """A free-text value with its credential parts replaced."""
        if not isinstance(value, str) or not self.may_hide(value):
            return value
        cleaned = value
        for secret in self.env_secrets:
            if secret in cleaned:
                self.env_found.add(secret)
                cleaned = cleaned.replace(secret, REDACTED)
        if self.default:
            if "@" in cleaned:
                cleaned = _USERINFO.sub(lambda m: m.group("scheme") + USERINFO_REDACTED + "@", cleaned)
            cleaned = _SHAPES.sub(REDACTED, cleaned)
            cleaned = self._assigned(cleaned)
        return cleaned

    def _assigned(self, text: str) -> str:
        """`text` with the values of secret NAME=value pairs replaced."""
        spans: list[tuple[int, int]] = []
        for match in _ASSIGNED.finditer(text):
            start, end = match.span("value")
            if spans and start < spans[-1][1]:
                continue  # inside a value already hidden
            if match.group("value").endswith(REDACTED) or not self.is_secret_key(match.group("name")):
                continue
            if not match.group("sep").strip() and not text[:match.start()].endswith("-"):
                continue  # "NAME value" only as a command-line flag: --password VALUE
            spans.append((start, end))
        if not spans:
            return text
        parts, last = [], 0
        for start, end in spans:
            parts += (text[last:start], REDACTED)
            last = end
        return "".join(parts) + text[last:]

    def problem(self, item: Problem) -> Problem:
        """A problem as a report shows it: a path or message may quote a value or a URI."""
        path, message = self.text(item.path), self.text(item.message)
        return item if (path, message) == (item.path, item.message) else replace(item, path=path, message=message)

    def mapping(self, values: Mapping[str, str]) -> dict[str, str]:
        if not any(self.is_secret_key(key) or (isinstance(value, str) and self.may_hide(value))
                   for key, value in values.items()):
            return dict(values)
        result = {}
        for key, value in values.items():
            if self.is_secret_key(key) and value is not None:
                result[key] = REDACTED
            else:
                result[key] = self.text(value)
        return result

    # -- model objects -------------------------------------------------------------------------------
    def run_info(self, info: RunInfo) -> RunInfo:
        name, uri = self.text(info.run_name), self.text(info.artifact_uri)
        if name is info.run_name and uri is info.artifact_uri:
            return info
        return replace(info, run_name=name, artifact_uri=uri)

    def run(self, run: Run) -> Run:
        if not self._touches(run):
            return run
        data = replace(run.data, params=self.mapping(run.data.params), tags=self.mapping(run.data.tags))
        inputs = replace(
            run.inputs,
            dataset_inputs=tuple(
                replace(item, dataset=replace(item.dataset, source=self.text(item.dataset.source),
                                              name=self.text(item.dataset.name)))
                for item in run.inputs.dataset_inputs
            ),
        )
        return replace(run, info=self.run_info(run.info), data=data, inputs=inputs)

    @staticmethod
    def _texts(run: Run) -> list[str]:
        params, tags = run.data.params, run.data.tags
        return [run.info.artifact_uri or "", run.info.run_name or "",
                *(item.dataset.source or "" for item in run.inputs.dataset_inputs),
                *(item.dataset.name or "" for item in run.inputs.dataset_inputs),
                *(v for v in params.values() if isinstance(v, str)),
                *(v for v in tags.values() if isinstance(v, str))]

    def _touches(self, run: Run) -> bool:
        """Whether run() would change anything in the run: keys looked up as sets, texts tested joined
        ("\\0" is in no secret, so no match spans two of them)."""
        if self._any_secret(run.data.params.keys()) or self._any_secret(run.data.tags.keys()):
            return True
        return self.may_hide("\0".join(self._texts(run)))

    def runs(self, runs: list[Run]) -> list[Run]:
        """[self.run(r) for r in runs]. Most stores hold nothing to redact: that is found in one pass
        over all their keys and texts."""
        keys: set[str] = set()
        texts: list[str] = []
        for run in runs:
            keys.update(run.data.params)
            keys.update(run.data.tags)
            texts += self._texts(run)
        if not self._any_secret(keys) and not self.may_hide("\0".join(texts)):
            return list(runs)
        return [self.run(run) for run in runs]

    def experiment(self, experiment: Experiment) -> Experiment:
        return replace(experiment, name=self.text(experiment.name),
                       artifact_location=self.text(experiment.artifact_location), tags=self.mapping(experiment.tags))


_LAST_DEFAULT: list = [None, None]  # (the environment it was made for, the Redactor)


def default_redactor(environ: Mapping[str, str] | None = None) -> Redactor:
    """The built-in policy with the secrets of `environ` (default: os.environ, as it is now)."""
    environ = os.environ if environ is None else environ
    snapshot = tuple(environ.items())
    if _LAST_DEFAULT[0] != snapshot:
        _LAST_DEFAULT[:] = [snapshot, Redactor.from_options(environ=environ)]
    return _LAST_DEFAULT[1]


def redact_text(text: str, *, environ: Mapping[str, str] | None = None) -> str:
    """`text` under the default policy (error messages, store labels, anything printed)."""
    return default_redactor(environ).text(text)
