"""Issue 14's acceptance run: a file store seeded with 100 planted secrets, hostile artifact roots, huge and
special files and damaged runs, built with `reportgen build` and summarised with `reportgen summary`.

    python bench/bench_hostile.py [--keep DIR]

Prints each command's wall time, then checks that no planted secret appears in any byte of the site, the
cache, the summaries or the captured output, and that every hostile item is named on the problems page or
in the build's output. Exits 1 when a check fails. Store, site and cache live in a temp folder (sparse
files: the 6 GB meta.yaml costs no disk).
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests"))

import mlruns_builder as mb  # noqa: E402

GIB = 1024 ** 3
MEMORY_LIMIT = 4 * GIB
NORMAL_RUNS = 40

# Names a secret hides under (the policy judges names by their tokens) and values that are secrets
# whatever their name. Each planted secret has a unique body, searched for in every output byte.
SECRET_NAMES = [
    "password", "db_password", "dbpassword", "adminpass", "password1", "passwd", "pwd", "api_key", "apiKey",
    "API-KEY", "access_key", "accesstoken", "authtoken", "apitoken", "secretkey", "secret_key", "client_secret",
    "hf_token", "HF_TOKEN", "wandb_key", "ssh_key", "encryption_key", "private_key", "AWS_SECRET_ACCESS_KEY",
    "Authorization", "auth", "credentials", "cookie", "session_cookie", "dsn", "connection_string",
    "github.token", "slack-token", "refreshToken", "x_auth_token", "mysql_pwd", "redis.password", "kaggleKey",
    "db.credential", "secret",
]


def _body(i: int) -> str:
    return f"PLNT{i:03d}Zq9xW7vK"


def _credential_values(start: int) -> list[tuple[str, str]]:
    """(harmless name, value that is a credential by its shape) with the secret's body inside it."""
    shapes = [
        lambda b: f"mysql://root:{b}@db.internal:3306/app",
        lambda b: f"postgresql://h/db?password={b}",
        lambda b: f"http://h/?token={b}",
        lambda b: f"https://h/x?api_key={b}&page=2",
        lambda b: f"Bearer {b}abcdefghij",
        lambda b: "AKIA" + b.upper()[:16].ljust(16, "X"),
        lambda b: f"ghp_{b}abcdefghijklmnopqrstuvwxyz01",
        lambda b: f"hf_{b}abcdefghijklmnopqrstuvwx",
        lambda b: f"sk-{b}abcdefghijklmnopqrst",
        lambda b: f"s3://user:{b}@bucket/data",
    ]
    out = []
    for n, shape in enumerate(shapes * 4):
        i = start + n
        out.append((f"endpoint_{n}", shape(_body(i))))
    return out


def make_store(root: Path) -> tuple[list[str], list[str]]:
    """The hostile store; returns (secret bodies planted, hostile item names that must be reported)."""
    secrets: list[str] = []
    hostile: list[str] = []
    exp = mb.experiment(root, "1", "hostile", tags={"db_password": _body(0)})
    secrets.append(_body(0))
    # 40 secrets under secret names (params and tags), 40 by value shape, 19 in run names, notes, URIs.
    for n in range(NORMAL_RUNS):
        i = 1 + n
        params = {"lr": str(0.1 * (n % 4 + 1)), "seed": str(n), SECRET_NAMES[n % len(SECRET_NAMES)]: _body(i)}
        mb.run(exp, n, params=params, metrics={"loss": [(mb.T0 + s, 1.0 / (s + 1 + n), s) for s in range(5)]})
        secrets.append(_body(i))
    for n, (name, value) in enumerate(_credential_values(41)):
        run_id = f"{n:032x}"
        mb.write(exp / run_id / "tags" / name, value)
        secrets.append(_body(41 + n))
    for n in range(19):
        i = 81 + n
        run_id = f"{n:032x}"
        kind = n % 3
        if kind == 0:
            mb.write(exp / run_id / "tags" / "mlflow.note.content", f"see https://u:{_body(i)}@host/x")
        elif kind == 1:
            mb.write(exp / run_id / "tags" / "mlflow.runName", f"run http://h/?password={_body(i)}")
        else:
            mb.write(exp / run_id / "params" / "cmd", f"train --db postgresql://me:{_body(i)}@h/db")
        secrets.append(_body(i))

    # Hostile artifact roots: the store root, an ancestor of it, another run's folder.
    for index, (label, uri) in enumerate([
        ("artifact root = store root", root.as_uri()),
        ("artifact root = ancestor", root.parent.as_uri()),
        ("artifact root = another run", (exp / f"{0:032x}").as_uri()),
    ]):
        mb.run(exp, 1000 + index, name=label, artifact_uri=uri)
        hostile.append(f"{1000 + index:032x}")
    # Files that must never be copied: a dotfile with a secret, an active type, a non-UTF-8 name.
    art = exp / f"{1:032x}" / "artifacts"
    mb.write(art / ".env", f"TOKEN={_body(100)}\n")
    secrets.append(_body(100))
    mb.write(art / "page.xht", "<html xmlns='http://www.w3.org/1999/xhtml'><script>alert(1)</script></html>")
    (art / os.fsdecode(b"bad-\xff-name.txt")).write_bytes(b"x")

    # Huge and special files, damaged runs.
    def damaged(index: int, label: str) -> Path:
        run_id = mb.run(exp, 2000 + index, name=label)
        hostile.append(run_id)
        return exp / run_id

    with open(damaged(0, "sparse 6 GB meta") / "meta.yaml", "r+b") as handle:
        handle.truncate(6 * GIB)
    folder = damaged(1, "3 GB params")
    with open(mb.write(folder / "params" / "big", b""), "r+b") as handle:
        handle.truncate(3 * GIB)
    folder = damaged(2, "2 GB tag")
    with open(mb.write(folder / "tags" / "big", b""), "r+b") as handle:
        handle.truncate(2 * GIB)
    folder = damaged(3, "meta is /dev/zero")
    (folder / "meta.yaml").unlink()
    (folder / "meta.yaml").symlink_to("/dev/zero")
    folder = damaged(4, "nested meta")
    (folder / "meta.yaml").write_text("[" * 80_000)
    folder = damaged(5, "5000-digit start_time")
    meta = (folder / "meta.yaml").read_text()
    (folder / "meta.yaml").write_text("\n".join(
        "start_time: " + "9" * 5000 if line.startswith("start_time:") else line for line in meta.splitlines()) + "\n")
    # The same run folder id in a second experiment.
    other = mb.experiment(root, "2", "other")
    shutil.copytree(exp / f"{2:032x}", other / f"{2:032x}")
    # A parent chain 990 runs deep, and a 256 KB param that varies.
    chain = mb.experiment(root, "3", "deep-chain")
    parent = None
    for depth in range(990):
        tags = {"mlflow.parentRunId": parent} if parent else {}
        parent = mb.run(chain, 5000 + depth, tags=tags)
    wide = mb.experiment(root, "4", "wide-param")
    for n in range(3):
        mb.run(wide, 9000 + n, params={"blob": chr(ord("a") + n) * (256 * 1024)},
               metrics={"acc": [(mb.T0 + s, 0.5 + s / 10, s) for s in range(3)]})
    return secrets, hostile


def _limit_memory() -> None:
    # A build that reads a 6 GB file whole must fail alone, not wake the kernel's OOM killer on a shared box.
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(command: list[str], log: Path) -> tuple[float, int]:
    began = time.perf_counter()
    with open(log, "wb") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT, timeout=600, preexec_fn=_limit_memory)
    return time.perf_counter() - began, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the store, site and logs in this folder")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="reportgen-hostile-")) if args.keep is None else args.keep
    base.mkdir(parents=True, exist_ok=True)
    store, site, cache = base / "mlruns", base / "site", base / "cache"
    secrets, hostile = make_store(store)
    env_secret = "ENVPLNTsecret0042"
    os.environ["MLFLOW_TRACKING_TOKEN"] = env_secret
    secrets.append(env_secret)
    mb.write(store / "1" / f"{3:032x}" / "tags" / "echo", f"token is {env_secret}")
    print(f"store: {store}, {len(secrets)} planted secrets, {len(hostile)} hostile runs; load: {os.getloadavg()}")

    reportgen = [sys.executable, "-m", "reportgen.cli"]
    timings = {
        "build": run([*reportgen, "build", str(store), "-o", str(site), "--cache-dir", str(cache)], base / "build.log"),
        "rebuild": run([*reportgen, "build", str(store), "-o", str(site), "--cache-dir", str(cache)],
                       base / "rebuild.log"),
        "summary md": run([*reportgen, "summary", str(store), "-o", str(base / "summary.md")], base / "summary.log"),
        "summary json": run([*reportgen, "summary", str(store), "--format", "json", "-o", str(base / "summary.json")],
                            base / "summary-json.log"),
    }
    failed = []
    for name, (seconds, code) in timings.items():
        print(f"{name:13s} {seconds:6.1f} s  exit {code}")
        if seconds > 60:
            failed.append(f"{name} took {seconds:.0f} s")
        if code != 0:
            failed.append(f"{name} exited {code}")

    outputs = [p for folder in (site, cache) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    outputs += [base / n for n in ("build.log", "rebuild.log", "summary.log", "summary-json.log",
                                    "summary.md", "summary.json") if (base / n).exists()]
    leaked = {}
    for path in outputs:
        data = path.read_bytes()
        for secret in secrets:
            if secret.encode() in data:
                leaked.setdefault(secret, []).append(str(path.relative_to(base)))
    print(f"scanned {len(outputs)} files ({sum(p.stat().st_size for p in outputs) / 1e6:.1f} MB): "
          f"{len(leaked)} of {len(secrets)} secrets found")
    for secret, where in sorted(leaked.items()):
        print(f"  LEAK {secret}: {', '.join(where[:4])}")
        failed.append(f"secret {secret} leaked")

    reported = (site / "problems.html").read_text(encoding="utf-8") if (site / "problems.html").exists() else ""
    reported += (base / "build.log").read_text(encoding="utf-8", errors="replace")
    missing = [run_id for run_id in hostile if run_id not in reported]
    print(f"hostile runs named in problems or the build log: {len(hostile) - len(missing)} of {len(hostile)}")
    for run_id in missing:
        print(f"  NOT NAMED {run_id}")
        failed.append(f"hostile run {run_id} not named")
    print("PASS" if not failed else "FAIL: " + "; ".join(failed[:10]))
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
