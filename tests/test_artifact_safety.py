"""Artifacts of untrusted runs (issue 14, items 2 and 6): a run's artifacts come only from its own folder,
hidden and non-UTF-8 names are never published, no copy is served as an active type, and an HTML preview
makes no request to anywhere. Each case shows the one run's problem and the rest of the build going on.
"""
from __future__ import annotations

import functools
import http.server
import mimetypes
import os
import shutil
import sqlite3
import threading
import urllib.request
from pathlib import Path

import pytest

import mlruns_builder as mb
from reportgen.model import FileInfo
from reportgen.site.artifacts.copy import SAFE_SUFFIX, SERVED_AS_IS, extension, write_artifacts
from reportgen.site.artifacts.plan import Budget, plan_run
from reportgen.site.artifacts.preview import PREVIEW_CSP
from site_stores import build, html_pages

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")  # problems are asserted on

SECRET = "PLANTED-SECRET-7f3c9e"
GOOD = 1


def rid(index: int) -> str:
    return f"{index:032x}"


def site_bytes(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())


def copied(out: Path, run_id: str) -> dict[str, str]:
    """Original-name part -> file name of a run's copies (names are '<hash>-<cleaned name>')."""
    folder = out / "r" / run_id / "files"
    return {p.name.split("-", 1)[1]: p.name for p in folder.iterdir()} if folder.is_dir() else {}


def problems_of(result, run_id: str) -> list[str]:
    return [str(p) for p in result.problems if run_id in str(p)]


def assert_run_refused(result, out: Path, run_id: str) -> None:
    """Local failure: the run's page is there without artifacts, and a problem names the run."""
    assert (out / "r" / f"{run_id}.html").is_file(), "the run still has its page"
    assert copied(out, run_id) == {}
    assert any("artifacts unavailable" in text for text in problems_of(result, run_id)), result.problems
    assert run_id in (out / "problems.html").read_text(encoding="utf-8")


def assert_good_run_published(out: Path, run_id: str = rid(GOOD)) -> None:
    """Global progress: the honest run's artifact is copied and linked."""
    assert set(copied(out, run_id)) == {"ok.txt"}
    page = html_pages(out)[f"r/{run_id}.html"]
    assert "ok.txt" in [a.get_text() for a in page.select(".rg-file-line a")]


# -- hostile artifact roots: file store ----------------------------------------------------------------
def test_file_store_runs_read_only_their_own_artifacts_folder(tmp_path):
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    mb.run(exp, GOOD, name="good", params={"lr": "0.1"})
    mb.write(exp / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    # Files no reader shows, so only a hostile artifact root could publish them (raw params/ files are
    # covered by the runs' empty copies below).
    for folder in (store, exp, exp / rid(GOOD)):
        mb.write(folder / "stray-notes.txt", SECRET)
    hostile = {
        2: store,  # the store root: every run's raw params/ files
        3: tmp_path,  # above the store
        4: exp,  # the experiment folder
        5: exp / rid(GOOD),  # another run's folder (its raw params/)
        6: exp / rid(GOOD) / "artifacts",  # another run's artifacts
        7: exp / rid(7),  # its own run folder, not its artifacts/
        8: Path(f"{exp}/{rid(8)}/artifacts/../../{rid(GOOD)}/params"),  # '..' out of its own folder
    }
    for index, target in hostile.items():
        mb.run(exp, index, name=f"hostile{index}", params={"lr": "0.2"}, artifact_uri=target.as_uri())
        mb.write(exp / rid(index) / "artifacts" / "own.txt", "not read either: the URI names elsewhere")
        mb.write(exp / rid(index) / "stray-notes.txt", SECRET)
    mb.run(exp, 9, name="encoded", artifact_uri=store.as_uri() + "/1/%2e%2e")  # decodes to the store root
    result = build(store, tmp_path / "site")
    out = tmp_path / "site"
    for index in [*hostile, 9]:
        assert_run_refused(result, out, rid(index))
    assert SECRET.encode() not in site_bytes(out)
    assert_good_run_published(out)


def test_stale_uri_of_this_run_is_still_remapped(tmp_path):
    """The rule leaves the usual cases alone: a store copied from another machine still shows its files."""
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    mb.run(exp, GOOD, artifact_uri=f"file:///home/someone/mlruns/1/{rid(GOOD)}/artifacts")
    mb.write(exp / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    result = build(store, tmp_path / "site")
    assert_good_run_published(tmp_path / "site")
    assert problems_of(result, rid(GOOD)) == []


def test_a_store_copied_on_the_same_machine_reads_its_own_folders(tmp_path):
    """cp -r mlruns elsewhere: the URIs still name the original's folders (still there, outside the copy);
    the copy's runs show the copy's files, not the original's, and no problem."""
    original = tmp_path / "mlruns"
    exp = mb.experiment(original, "1", "exp")
    mb.run(exp, GOOD, artifact_uri=(exp / rid(GOOD) / "artifacts").as_uri())
    mb.write(exp / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    mb.write(exp / rid(GOOD) / "artifacts" / "original-only.txt", "not in the copy")
    copy = tmp_path / "elsewhere" / "mlruns"
    shutil.copytree(original, copy)
    (copy / "1" / rid(GOOD) / "artifacts" / "original-only.txt").unlink()
    result = build(copy, tmp_path / "site")
    assert_good_run_published(tmp_path / "site")
    assert problems_of(result, rid(GOOD)) == []
    listed = [a.get_text() for a in html_pages(tmp_path / "site")[f"r/{rid(GOOD)}.html"].select(".rg-file-line a")]
    assert "original-only.txt" not in listed


# -- hostile artifact roots: SQLite --------------------------------------------------------------------
def _sqlite_store(tmp_path: Path, uris: dict[int, str]) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    db = mb.mlflow_sqlite(project / "mlflow.db")
    mb.write(project / ".git" / "config", f"[remote]\n\turl = https://x-access-token:{SECRET}@github.com/o/r\n")
    mb.write(project / ".env", f"AWS_SECRET_ACCESS_KEY={SECRET}\n")
    mb.write(project / "notes.txt", SECRET)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, "
                 "last_update_time) VALUES (1, 'exp', 'mlruns/1', 'active', ?, ?)", (mb.T0, mb.T0))
    for index, uri in uris.items():
        conn.execute("INSERT INTO runs (run_uuid, name, status, start_time, end_time, lifecycle_stage, artifact_uri, "
                     "experiment_id, source_type, user_id) "
                     "VALUES (?, ?, 'FINISHED', ?, ?, 'active', ?, 1, 'LOCAL', 'u')",
                     (rid(index), f"run{index}", mb.T0 + index, mb.T0 + index + 9, uri))
    conn.commit()
    conn.close()
    return db


def test_sqlite_runs_read_only_their_own_folder(tmp_path):
    project = tmp_path / "project"
    own = project / "mlruns" / "1"
    uris = {
        GOOD: f"mlruns/1/{rid(GOOD)}/artifacts",  # relative to the database's folder, as MLflow writes it
        2: project.as_uri(),  # the database's folder: .git/config, .env
        3: ".",  # the same, relative
        4: tmp_path.as_uri(),  # above it
        5: (project / ".git").as_uri(),  # the VCS folder itself
        6: (own / rid(GOOD) / "artifacts").as_uri(),  # another run's folder
        7: (own / rid(7) / ".." / "..").as_uri(),  # out of its own folder
        8: (project / "mlruns").as_uri() + "/%2e%2e",  # percent-encoded '..'
    }
    db = _sqlite_store(tmp_path, uris)
    mb.write(own / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    mb.write(own / rid(7) / "artifacts" / "x.txt", "x")
    result = build(db, tmp_path / "site")
    out = tmp_path / "site"
    for index in range(2, 9):
        assert_run_refused(result, out, rid(index))
    assert SECRET.encode() not in site_bytes(out)
    assert_good_run_published(out)


def test_sqlite_run_ids_that_name_other_folders_are_not_trusted(tmp_path):
    """A database written by hand can give a run any id: one that is a folder's name ('mlruns', '.git')
    does not make that folder the run's."""
    project = tmp_path / "project"
    db = _sqlite_store(tmp_path, {GOOD: f"mlruns/1/{rid(GOOD)}/artifacts"})
    conn = sqlite3.connect(db)
    for run_id, uri in (("mlruns", "mlruns"), (".git", ".git"), ("1", "mlruns/1")):
        conn.execute("INSERT INTO runs (run_uuid, name, status, start_time, lifecycle_stage, artifact_uri, "
                     "experiment_id, source_type, user_id) VALUES (?, ?, 'FINISHED', ?, 'active', ?, 1, 'LOCAL', 'u')",
                     (run_id, f"odd {run_id}", mb.T0, uri))
    conn.commit()
    conn.close()
    mb.write(project / "mlruns" / "1" / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    mb.write(project / "mlruns" / "1" / "stray-notes.txt", SECRET)
    result = build(db, tmp_path / "site")
    out = tmp_path / "site"
    assert SECRET.encode() not in site_bytes(out)
    refused = [p for p in result.problems if "artifacts unavailable" in p.message]
    assert sorted(p.path for p in refused) == ["run .git", "run 1", "run mlruns"], result.problems
    assert_good_run_published(out)


def test_sqlite_absolute_uri_of_the_runs_own_folder_is_read(tmp_path):
    project = tmp_path / "project"
    folder = project / "elsewhere" / rid(GOOD)  # the run's id in the path below the root: its own
    db = _sqlite_store(tmp_path, {GOOD: folder.as_uri()})
    mb.write(folder / "ok.txt", "fine")
    result = build(db, tmp_path / "site")
    assert_good_run_published(tmp_path / "site")
    assert problems_of(result, rid(GOOD)) == []


# -- hidden files and non-UTF-8 names -----------------------------------------------------------------
def test_hidden_files_and_vcs_folders_are_never_published(tmp_path):
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    mb.run(exp, GOOD, name="good")
    mb.run(exp, 2, name="leaky")
    art = exp / rid(2) / "artifacts"
    mb.write(art / ".git" / "config", f"token = {SECRET}")
    for index in range(2500):  # more objects than a run's walk lists: they must not crowd out its files
        mb.write(art / ".git" / "objects" / f"{index:04d}", "x")
    mb.write(art / ".env", f"HF_TOKEN={SECRET}")
    mb.write(art / ".ssh" / "id_rsa", SECRET)
    mb.write(art / "sub" / ".hidden.txt", SECRET)
    mb.write(art / "sub" / "seen.txt", "kept")
    mb.write(art / "ok.txt", "fine")
    mb.write(exp / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    result = build(store, tmp_path / "site")
    out = tmp_path / "site"
    assert set(copied(out, rid(2))) == {"ok.txt", "seen.txt"}
    assert SECRET.encode() not in site_bytes(out)
    skipped = [p for p in result.problems if "hidden" in p.message]
    assert sorted(Path(p.path).name for p in skipped) == [".env", ".git", ".hidden.txt", ".ssh"], skipped
    assert all(rid(2) in p.path for p in skipped), "each problem names the run's folder"
    assert_good_run_published(out)


def test_non_utf8_names_are_skipped_with_a_problem(tmp_path):
    store = tmp_path / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    mb.run(exp, GOOD, name="good")
    mb.run(exp, 2, name="odd names")
    mb.write(exp / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    art = os.fsencode(exp / rid(2) / "artifacts")
    os.mkdir(art + b"/d\xffir")
    for name in (b"/bad\xff.txt", b"/d\xffir/x.txt", b"/ok.txt"):
        with open(art + name, "wb") as handle:
            handle.write(b"data")
    result = build(store, tmp_path / "site")  # once: UnicodeEncodeError while writing the run page
    out = tmp_path / "site"
    assert set(copied(out, rid(2))) == {"ok.txt"}
    texts = problems_of(result, rid(2))
    assert any(text.endswith("bad\\xff.txt: file name is not UTF-8; skipped") for text in texts), texts
    assert any("d\\xffir: file name is not UTF-8" in text for text in texts), texts
    assert "bad\\xff.txt" in (out / "problems.html").read_text(encoding="utf-8")
    assert_good_run_published(out)


class _ListingStore:
    """A store whose listing holds names a server could send (JSON can carry lone surrogates)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names

    def walk_artifacts(self, run_id, *, max_files):
        return [FileInfo(name, False, 4) for name in self.names]

    def open_artifact(self, run_id, path):
        import io

        return io.BytesIO(b"data")


def test_names_from_any_store_are_checked_before_copying(tmp_path):
    names = ["ok.txt", ".env", "a/.git/config", "bad\udcff.txt", "d\ud800/x.txt"]
    problems: list[tuple[str, str]] = []
    store = _ListingStore(names)
    warn = lambda p, m: problems.append((p, m))  # noqa: E731
    planned = plan_run(store, "r1", Budget(per_file=1000, remaining=10_000), warn)
    tree = write_artifacts(store, "r1", planned, out_dir=tmp_path, run_dir="r/r1", warn=warn)
    assert [node.name for node in tree] == ["ok.txt"]
    assert [p.name.split("-", 1)[1] for p in (tmp_path / "r" / "r1" / "files").iterdir()] == ["ok.txt"]
    assert len(problems) == 4 and all(path.startswith("run r1 artifact ") for path, _ in problems)
    for path, message in problems:
        path.encode("utf-8")  # printable as is: surrogates escaped
        assert "hidden" in message or "not UTF-8" in message


# -- active types ---------------------------------------------------------------------------------------
ACTIVE = ["page.html", "page.htm", "page.xhtml", "page.xht", "page.xhtm", "page.shtml", "page.shtm", "plot.svg",
          "plot.svgz", "data.xml", "style.xsl", "style.xslt", "schema.xsd", "feed.rss", "feed.atom", "app.js",
          "app.mjs", "app.cjs", "theme.css", "movie.swf", "page.mht", "page.mhtml", "mod.wasm", "app.hta",
          "index.php", "PAGE.HTML", "trailing.html.", "MLmodel", "model.pkl", "notes.md", "conf.yaml",
          "x" * 95 + ".png.html"]
PASSIVE = ["curve.png", "photo.jpg", "photo.jpeg", "anim.gif", "pic.webp", "notes.txt", "table.csv",
           "table.tsv", "config.json", "paper.pdf"]
ACTIVE_MIME = ("html", "xml", "svg", "javascript", "ecmascript", "css", "flash", "wasm", "hta", "php")


def _serve(directory: Path) -> http.server.ThreadingHTTPServer:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def typed_site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("types")
    store = tmp / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    mb.run(exp, GOOD, name="good")
    mb.write(exp / rid(GOOD) / "artifacts" / "ok.txt", "fine")
    mb.run(exp, 2, name="typed")
    for name in ACTIVE + PASSIVE:
        mb.write(exp / rid(2) / "artifacts" / name, "<html><script>alert(1)</script></html>")
    build(store, tmp / "site")
    return tmp / "site"


@pytest.mark.parametrize("name", ACTIVE)
def test_active_and_unknown_types_are_copied_under_a_safe_name(typed_site, name):
    page = html_pages(typed_site)[f"r/{rid(2)}.html"]
    links = {a.get_text(): a["href"] for a in page.select(".rg-file-line a")}
    href = links[name]  # the link shows the original name
    served = href.rsplit("/", 1)[1]
    assert served.endswith(SAFE_SUFFIX) and extension(served) in SERVED_AS_IS
    assert (typed_site / href.removeprefix("../")).is_file(), "the page links to the copy"
    assert mimetypes.guess_type(served)[0] == "text/plain"
    # Downloaded (not opened on the host), the file gets its own name back.
    assert {a.get_text(): a["download"] for a in page.select(".rg-file-line a")}[name] == name


@pytest.mark.parametrize("name", PASSIVE)
def test_passive_types_keep_their_name(typed_site, name):
    page = html_pages(typed_site)[f"r/{rid(2)}.html"]
    href = {a.get_text(): a["href"] for a in page.select(".rg-file-line a")}[name]
    assert href.endswith("-" + name)


def test_a_static_host_serves_no_copy_as_an_active_type(typed_site):
    """Every copied file through a real static server (python -m http.server and this machine's MIME
    table): no HTML, XML, SVG, script or style type, whatever the file holds."""
    server = _serve(typed_site)
    try:
        files = sorted((typed_site / "r" / rid(2) / "files").iterdir())
        assert len(files) == len(ACTIVE) + len(PASSIVE)
        for path in files:
            url = f"http://127.0.0.1:{server.server_port}/r/{rid(2)}/files/{path.name}"
            with urllib.request.urlopen(url) as response:
                kind = response.headers.get_content_type()
            assert not any(word in kind for word in ACTIVE_MIME), (path.name, kind)
    finally:
        server.shutdown()
    assert_good_run_published(typed_site)


# -- HTML previews make no request ----------------------------------------------------------------------
def _beacon_page(ports: list[int]) -> str:
    """An HTML artifact that tries every passive way to reach a server as soon as it is rendered."""
    parts = ['<p id="styled" style="color: rgb(1, 2, 3)">hello</p>']
    for port in ports:
        u = f"http://127.0.0.1:{port}/beacon"
        parts.append(f"""<style>@import url({u}-import.css);
@font-face {{ font-family: tracked; src: url({u}-font.woff); }}
body {{ font-family: tracked; background: url({u}-background.png); }}</style>
<div style="background-image: url({u}-inline.png)">text</div>
<img src="{u}-img.png"><img srcset="{u}-srcset.png 2x"><link rel="stylesheet" href="{u}-link.css">
<link rel="prefetch" href="{u}-prefetch"><link rel="preload" as="image" href="{u}-preload.png">
<video poster="{u}-poster.png"></video><audio src="{u}-audio.mp3"></audio><iframe src="{u}-frame"></iframe>
<object data="{u}-object"></object><embed src="{u}-embed"><input type="image" src="{u}-input.png">
<meta http-equiv="refresh" content="0;url={u}-refresh">""")
    return "\n".join(parts)


@pytest.mark.browser
def test_html_preview_makes_no_request_when_it_scrolls_into_view(page, tmp_path):
    """The report is served from a loopback host (so the page policy's 'self' is that host, as on a real
    static host) and a second server stands for anyone else; the preview reaches neither."""
    seen: list[str] = []

    class Recording(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.path)
            super().do_GET()

    site = tmp_path / "site"
    site.mkdir()
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recording, directory=str(where)))
               for where in (site, tmp_path)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = tmp_path / "mlruns"
        exp = mb.experiment(store, "1", "exp")
        mb.run(exp, GOOD, name="good")
        mb.write(exp / rid(GOOD) / "artifacts" / "ok.txt", "fine")
        mb.run(exp, 2, name="beacon")
        for index in range(12):  # the preview is far down the page: lazy frames load when scrolled to
            mb.write(exp / rid(2) / "artifacts" / f"a{index:02d}.txt", "line\n" * 150)
        artifact = _beacon_page([server.server_port for server in servers])
        mb.write(exp / rid(2) / "artifacts" / "z-report.html", artifact)
        build(store, site)
        base = f"http://127.0.0.1:{servers[0].server_port}"
        page.goto(f"{base}/r/{rid(2)}.html")
        preview = page.locator(".rg-preview-html")
        preview.evaluate("details => { details.open = true; }")
        page.locator(".rg-preview-html iframe").scroll_into_view_if_needed()
        frame = page.frame_locator(".rg-preview-html iframe")
        assert frame.locator("#styled").inner_text() == "hello"
        head = frame.locator("head > *").first
        assert head.get_attribute("http-equiv") == "Content-Security-Policy"
        assert head.get_attribute("content") == PREVIEW_CSP
        color = frame.locator("#styled").evaluate("el => getComputedStyle(el).color")
        assert color == "rgb(1, 2, 3)", "inline styles still apply"
        page.wait_for_timeout(1500)
        assert [path for path in seen if "beacon" in path] == []
        page.goto(f"{base}/r/{rid(GOOD)}.html")  # the other runs' pages are there
        assert "ok.txt" in page.locator(".rg-file-line a").all_inner_texts()

        # The same artifact in the same sandbox without the preview's policy does reach the servers:
        # the check above can fail.
        page.goto(f"{base}/r/{rid(2)}.html")
        page.evaluate("""html => { const f = document.createElement('iframe'); f.setAttribute('sandbox', '');
                                    f.srcdoc = html; document.body.prepend(f); }""", artifact)
        page.wait_for_timeout(1500)
        assert [path for path in seen if "beacon" in path] != []
    finally:
        for server in servers:
            server.shutdown()
