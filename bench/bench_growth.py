"""The growth benchmark of issue 18: how a report grows past the 2,000-run store. For the growth stores of
make_stores.py (2,000, 5,000 and 20,000 runs of 10 metrics x 100 steps; experiments of at most 5,000 runs)
it prints the full read time, the build time (`reportgen build --no-cache` from the command line, in a fresh
process), the build's peak memory over all its processes, the site size, and MLflow's read time of the
2,000-run store beside them; then whether time grows no worse than linearly and whether the 20,000-run build
stays under 1 GB; then how long one 5,000-run experiment page takes to open in headless Chromium.

    python bench/make_stores.py --stores G2000 G5000 G20000
    python bench/bench_growth.py [--stores G2000 G5000 G20000] [--no-mlflow] [--mlflow-sample N]
                                 [--code NAME=DIR ...] [--repeat N] [--no-browser] [--keep-sites]
                                 [--cache none|first|second]

Peak memory, three ways (a build forks up to 4 run-page workers and one image helper):
  - "PSS sum": the largest sum, over the build's process tree, of each process's proportional set size,
    sampled from /proc/PID/smaps_rollup every 0.1 s. Pages a forked worker shares with its parent count
    once in total, so this is the memory the build holds; the verdict uses it.
  - "RSS sum": the same sum of resident set sizes: shared pages counted in every process (an overcount).
  - "time -v": /usr/bin/time -v's "Maximum resident set size", which is the largest peak of any ONE
    process of the tree (wait4's ru_maxrss is a maximum over descendants, never a sum).
Sampling can miss a peak shorter than 0.1 s; time -v cannot.

--code NAME=DIR builds with the reportgen found in DIR (PYTHONPATH=DIR), e.g. a git worktree holding a patch,
alternating with the others build by build (same run, same load). Sites go under bench/out/ (gitignored)
and are deleted after measuring unless --keep-sites.

Measured 2026-12-07 12:17-12:23 UTC at 671a524, 2 cores shared with other jobs (load average 4.0-7.6), one
build each:
    store   read s  build s  PSS sum MB  RSS sum MB  time -v MB  site MB
    G2000     2.29      9.3         582        1067         403      127
    G5000     6.99     26.3         903        1718         720      311
    G20000   15.92     96.9        2422        5196        1886     1240
MLflow's full read of G2000 80.3 s (636 MB), 35x reportgen's read. Build time grows as runs^1.02; the 20,000-run
build is NOT under 1 GB, and its peak is 2.7x the 5,000-run store's, whose one experiment is as big as each of
its four: memory grows with the store. The whole-store read alone peaks at 1.76 GB (bench_read-style read_all).
Chromium: the 5,000-run experiment page (2.1 MB, 12 charts) fires load at 0.9-1.6 s, every chart drawn at
2.5-3.0 s. Builds of 20,000 runs took 82-233 s across runs of the same hour (load average 5-14): one build
per store says little about time on this machine; --repeat helps.

After eb2f754 (a build reads, renders and releases one experiment at a time), 12:51-12:54 UTC, load 1.3-2.4:
    store   read s  build s  PSS sum MB  RSS sum MB  time -v MB  site MB
    G2000     2.26      5.9         625        1122         393      127
    G5000     5.43     13.3         942        1731         725      312
    G20000   17.58     45.0        1106        2104         838     1246
MLflow's read of G2000 63.3 s, 28x. Time grows as runs^0.89; the 20,000-run peak is 1.17x the 5,000-run
store's (bounded by the largest experiment) but still over 1 GB: the main process holds ~840 MB resident at
its peak while two forked workers render run pages (~245 MB PSS each) and the image helper holds 140-200 MB.
One worker instead of two: 1,048 MB and 8% slower (same run). Chromium: load 0.78 s, charts drawn 1.82 s.

After f7cf709 (glibc's free heap pages handed back with malloc_trim before the pool forks and between an
experiment's stages; split_history without per-point Python lists), 14:29-14:35 UTC, load 2.1-5.6, e46b290
("base") and f7cf709 ("mem") alternating, 2 builds each, the faster kept; sites identical (diff -r):
    store   code  build s  PSS sum MB  RSS sum MB  time -v MB
    G2000   base      7.4         617        1107         390
    G2000   mem       8.2         530         918         328
    G5000   base     11.6         936        1721         721
    G5000   mem      19.7         706        1358         522
    G20000  base     53.6        1181        2232         902
    G20000  mem      41.0         850        1534         616
PSS sum of every build: G2000 base 617/500, mem 493/530; G5000 base 936/897, mem 705/706; G20000 base
1133/1181, mem 850/808. Times swing +-40% at this load (G5000 base 11.6 and 21.4 s): four more alternating
G5000 builds (load 2.9-5.1) took base 18.6/16.1/17.4/19.3 s, mem 20.8/17.9/18.2/18.0 s (PSS sum 868-884 against
698-727 MB), and four more from the command line base 17.5/15.3/10.3/12.8 s, mem 16.3/13.7/14.4/9.9 s: no
difference beyond the noise. Where the memory went (G5000, one experiment of 5M points): after its read the
main process held 481 MB resident with a 229 MB heap of which 37 MB was in use (glibc keeps freed chunks; its
dynamic mmap threshold had risen, so the read's big temporaries came from the heap); split_history peaked at
+299 MB over the frame (5M-element Python lists of codes), now +119 MB; the workers inherited the free heap
and dirtied it again. At the G20000 peak now: main ~530 MB resident (~335 PSS), two workers ~370 resident
(~150 PSS, ~30-50 MB private each), the image helper ~190 PSS (V8; ~140 MB private, growing ~30 MB over four
experiments). A fixed M_MMAP_THRESHOLD (1 MiB for the whole build) cut G5000 another ~80 MB but slowed its read
by ~25%; the same only while pages render gained nothing measurable. The plan's other transient, aggregate's
metric_summaries (+176 MB over the frame for 5M points), is now the largest one before a fork.
Tried and left out: gc.freeze() in each run-page worker (no change, 724-739 MB on G5000); writing the experiment
pages before the pool forks instead of beside it (14:45-14:49, load 1.8-2.8: G5000 686/687 against 721/734 MB,
G20000 760/775 against 796/837 MB, same speed, sites identical) slowed a G2000 copy with 3 artifacts a run
(444 MB site) from 7.5 to 8.2 s mean of 5 alternating builds: its artifact copies no longer overlap the pool.

With the default build cache (--cache first: a new cache folder, as a CI job's first build; --cache second: the
cache that build left, into a new site). Until 9a1a10a a file store with a cache was read for all experiments at
once: G20000 peaked at 1,754 MB cold and 981 MB warm (e46b290, one build each, load 5-6). Now each experiment is
read through the cache when the builder comes to it; at 274ef9e, 15:03-15:06 UTC, load 1.4-2.5, one build each:
    store   cache   build s  PSS sum MB  RSS sum MB  time -v MB
    G5000   first      12.6         798        1417         607
    G20000  first      52.0         976        1732         810
    G20000  second      6.3         699         775         556
A first cached build of 20,000 runs stays under 1 GB, with less margin than --no-cache (1.22x the 5,000-run
store's): the build cache keeps every rendered unit's record (its files and metric summaries, ~4 KB a run)
until it writes its index at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from bench_read import read_mlflow, read_reportgen  # noqa: E402

STORES = {name: HERE / "stores" / f"{name}-mlruns" for name in ("G2000", "G5000", "G20000")}
OUT = HERE / "out"
LIMIT_MB = 1024
SAMPLE_SECONDS = 0.1


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# -- memory of a process tree, from /proc ---------------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _tree(root: int) -> list[int]:
    children = _children_map()
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _rss_pss_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:  # gone meanwhile
        pass
    return rss, pss


class TreeSampler:
    """Samples the summed RSS and PSS of a process and its descendants until stopped; keeps the peaks and a
    coarse timeline (seconds, PSS sum MB, processes) for the report."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_rss_kb = self.peak_pss_kb = self.peak_processes = 0
        self.timeline: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._began = time.perf_counter()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.root)
            rss = pss = 0
            for pid in pids:
                r, p = _rss_pss_kb(pid)
                rss, pss = rss + r, pss + p
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_processes = max(self.peak_processes, len(pids))
            self.timeline.append((time.perf_counter() - self._began, pss / 1024, len(pids)))
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# -- one build, one read -------------------------------------------------------------------------------
def build_once(store: str, code: str, code_dir: Path, cache: str = "none") -> dict:
    """`reportgen build STORE -o SITE --no-cache` in a fresh process under /usr/bin/time -v, its tree sampled.
    cache "first": with a new cache folder instead (a CI job's first build); "second": with the cache a
    first build (untimed) left, into a new site folder (a CI job that restores the cache, nothing changed)."""
    target = OUT / f"growth-{store}-{code}"
    shutil.rmtree(target, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    caching = ["--no-cache"]
    if cache != "none":
        folder = OUT / f"growth-cache-{store}-{code}"
        shutil.rmtree(folder, ignore_errors=True)
        caching = ["--cache-dir", str(folder)]
        if cache == "second":
            subprocess.run([sys.executable, "-c", "from reportgen.cli import main; main()", "build",
                            str(STORES[store]), "-o", str(target), *caching, "-q"], env=env, cwd=code_dir, check=True)
            shutil.rmtree(target, ignore_errors=True)
    command = ["/usr/bin/time", "-v", sys.executable, "-c", "from reportgen.cli import main; main()",
               "build", str(STORES[store]), "-o", str(target), *caching]
    began = time.perf_counter()
    # cwd: `python -c` puts the working folder first on sys.path, before PYTHONPATH
    process = subprocess.Popen(command, env=env, cwd=code_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    sampler = TreeSampler(process.pid)
    out, err = process.communicate()
    seconds = time.perf_counter() - began
    sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"build of {store} ({code}) failed:\n{err[-2000:]}")
    max_rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    built = re.search(r"Built (\d+) pages .* in ([\d.]+)s", err)
    files = [p for p in target.rglob("*") if p.is_file()]
    return {
        "store": store, "code": code, "seconds": seconds, "build_seconds": float(built.group(2)) if built else None,
        "pages": int(built.group(1)) if built else None,
        "time_v_max_rss_mb": int(max_rss.group(1)) / 1024 if max_rss else None,
        "pss_sum_mb": sampler.peak_pss_kb / 1024, "rss_sum_mb": sampler.peak_rss_kb / 1024,
        "processes": sampler.peak_processes - 1,  # /usr/bin/time itself is not the build's
        "site_mb": sum(p.stat().st_size for p in files) / 1e6, "files": len(files), "site": str(target),
        "timeline": sampler.timeline[:: max(1, len(sampler.timeline) // 60)],
    }


def read_once(reader: str, store: str, sample: int | None) -> dict:
    command = [sys.executable, __file__, "--worker", reader, "--store", store]
    if sample is not None:
        command += ["--mlflow-sample", str(sample)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker(reader: str, store: str, sample: int | None) -> None:
    import resource

    func = {"reportgen": read_reportgen, "mlflow": read_mlflow}[reader]
    result = func(STORES[store], sample)
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# -- the browser ---------------------------------------------------------------------------------------
def open_in_chromium(page_path: Path) -> dict:
    """Opens the page in a fresh headless Chromium (Debian's, as the browser tests do): seconds to the load
    event and to every chart drawn (body[data-charts-drawn], set by charts.js), wall clock from goto."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import CHROMIUM, CHROMIUM_FLAGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            began = time.perf_counter()
            page.goto(page_path.as_uri(), wait_until="load", timeout=300_000)
            load = time.perf_counter() - began
            page.wait_for_selector("body[data-charts-drawn]", state="attached", timeout=300_000)
            drawn = time.perf_counter() - began
            return {
                "page": str(page_path), "page_kb": page_path.stat().st_size / 1e3, "load_s": load, "drawn_s": drawn,
                "load_event_ms": page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"),
                "drawn_ms": page.get_attribute("body", "data-charts-drawn-ms"),
                "charts": page.locator("figure.rg-chart").count(),
                "failed": page.get_attribute("body", "data-charts-failed"), "errors": errors,
            }
        finally:
            browser.close()


def biggest_experiment_page(site: Path) -> Path:
    """The experiment page of the experiment with the most run pages listed (its e/KEY/index.html)."""
    pages = sorted((site / "e").glob("*/index.html"), key=lambda p: (-p.stat().st_size, str(p)))
    return pages[0]


# -- the report ----------------------------------------------------------------------------------------
def _runs(store: str) -> int:
    return int(store[1:])


def verdicts(builds: dict[str, dict], code: str) -> list[str]:
    mine = {s: b for (s, c), b in builds.items() if c == code}
    lines = []
    sizes = sorted(mine, key=_runs)
    if len(sizes) >= 2:
        small, large = sizes[0], sizes[-1]
        exponent = math.log(mine[large]["seconds"] / mine[small]["seconds"]) / math.log(_runs(large) / _runs(small))
        per = {s: mine[s]["seconds"] / _runs(s) * 1000 for s in sizes}
        lines.append(f"[{code}] build time grows as runs^{exponent:.2f} from {small} to {large} "
                     f"({', '.join(f'{s}: {v:.2f} s per 1000 runs' for s, v in per.items())}): "
                     f"{'no worse than linear' if exponent <= 1.1 else 'WORSE than linear'} (limit runs^1.10)")
    if "G20000" in mine:
        peak = mine["G20000"]["pss_sum_mb"]
        lines.append(f"[{code}] G20000 peak memory (PSS sum over all processes) {peak:.0f} MB: "
                     f"{'under' if peak < LIMIT_MB else 'OVER'} {LIMIT_MB} MB "
                     f"(RSS sum {mine['G20000']['rss_sum_mb']:.0f} MB, largest single process "
                     f"{mine['G20000']['time_v_max_rss_mb']:.0f} MB)")
        if "G5000" in mine:
            ratio = peak / mine["G5000"]["pss_sum_mb"]
            lines.append(f"[{code}] G20000 / G5000 peak memory (same largest experiment, 4x the store): {ratio:.2f}x: "
                         f"{'bounded by the largest experiment' if ratio <= 1.25 else 'grows with the store'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=list(STORES))
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow's read of G2000 (about 2 minutes)")
    parser.add_argument("--mlflow-sample", type=int, default=None, help="see bench_read.py")
    parser.add_argument("--code", action="append", default=[], metavar="NAME=DIR",
                        help="build with the reportgen in DIR (repeatable; default: this checkout)")
    parser.add_argument("--repeat", type=int, default=1, help="builds per store and code; the fastest is kept")
    parser.add_argument("--no-browser", action="store_true", help="skip opening a 5,000-run experiment page")
    parser.add_argument("--keep-sites", action="store_true", help="keep the sites under bench/out/")
    parser.add_argument("--cache", choices=("none", "first", "second"), default="none",
                        help="builds with --no-cache (default), as a first build with a new cache folder, or as a "
                             "second build with the cache a first one left")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--worker", choices=("reportgen", "mlflow"), help=argparse.SUPPRESS)
    parser.add_argument("--store", choices=list(STORES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.store, args.mlflow_sample)
        return
    missing = [s for s in args.stores if not (STORES[s] / "0" / "meta.yaml").exists()]
    if missing:
        sys.exit(f"missing stores {missing}: run python bench/make_stores.py --stores {' '.join(missing)}")
    codes = dict(item.split("=", 1) for item in args.code) if args.code else {"this": str(ROOT)}
    codes = {name: Path(path).resolve() for name, path in codes.items()}
    OUT.mkdir(exist_ok=True)
    print(f"load before: {_uptime()}", flush=True)
    results: dict = {"reads": {}, "builds": [], "browser": None, "uptime": [_uptime()]}
    reads = {s: read_once("reportgen", s, None) for s in args.stores}
    results["reads"] = reads
    mlflow = None if args.no_mlflow or "G2000" not in args.stores else read_once("mlflow", "G2000", args.mlflow_sample)
    builds: dict[tuple[str, str], dict] = {}
    browser_site = None
    for store in args.stores:
        for _ in range(args.repeat):
            for code, code_dir in codes.items():  # alternating: a busy spell of the machine hits every code
                result = build_once(store, code, code_dir, args.cache)
                result["uptime"] = _uptime()
                print(f"  built {store} with {code}: {result['seconds']:.1f} s, PSS sum {result['pss_sum_mb']:.0f} MB "
                      f"({result['uptime']})", flush=True)
                if (store, code) not in builds or result["seconds"] < builds[store, code]["seconds"]:
                    builds[store, code] = result
                keep = store == "G5000" and browser_site is None or args.keep_sites
                if store == "G5000" and browser_site is None:
                    browser_site = Path(result["site"])
                if not keep:
                    shutil.rmtree(result["site"], ignore_errors=True)
                shutil.rmtree(OUT / f"growth-cache-{store}-{code}", ignore_errors=True)
    results["builds"] = list(builds.values())

    print()
    print(f"{'store':7} {'runs':>6} {'code':6} {'read s':>7} {'read MB':>8} {'build s':>8} {'in-proc s':>9} "
          f"{'PSS sum MB':>10} {'RSS sum MB':>10} {'time -v MB':>10} {'procs':>5} {'site MB':>8} {'pages':>6}")
    for (store, code), b in builds.items():
        r = reads[store]
        read_s = f"{r['seconds']:.2f}" if "error" not in r else "failed"
        read_mb = f"{r['maxrss_mb']:.0f}" if "error" not in r else "-"
        print(f"{store:7} {_runs(store):6} {code:6} {read_s:>7} {read_mb:>8} {b['seconds']:8.1f} "
              f"{(b['build_seconds'] or float('nan')):9.1f} {b['pss_sum_mb']:10.0f} {b['rss_sum_mb']:10.0f} "
              f"{b['time_v_max_rss_mb']:10.0f} {b['processes']:5} {b['site_mb']:8.0f} {b['pages'] or 0:6}")
    if mlflow is not None:
        results["mlflow"] = mlflow
        if "error" in mlflow:
            print(f"MLflow's read of G2000 failed: {mlflow['error']}")
        else:
            mark = f" (extrapolated from {mlflow['sampled_runs']} runs)" if mlflow.get("extrapolated") else ""
            ours = reads.get("G2000", {})
            ratio = f", {mlflow['seconds'] / ours['seconds']:.1f}x reportgen's read" if "seconds" in ours else ""
            print(f"MLflow's full read of G2000: {mlflow['seconds']:.1f} s, {mlflow['maxrss_mb']:.0f} MB{mark}{ratio}")
    for code in codes:
        for line in verdicts(builds, code):
            print(line)

    if not args.no_browser and browser_site is not None:
        page = biggest_experiment_page(browser_site)
        timing = open_in_chromium(page)
        results["browser"] = timing
        print(f"Chromium, {page.relative_to(browser_site)} of the 5,000-run site ({timing['page_kb']:.0f} KB, "
              f"{timing['charts']} charts): load event {timing['load_s']:.2f} s (page clock "
              f"{timing['load_event_ms']:.0f} ms), every chart drawn {timing['drawn_s']:.2f} s (page clock "
              f"{timing['drawn_ms']} ms), failed charts {timing['failed'] or 0}, page errors {len(timing['errors'])}")
        if not args.keep_sites:
            shutil.rmtree(browser_site, ignore_errors=True)
    results["uptime"].append(_uptime())
    print(f"load after: {_uptime()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
