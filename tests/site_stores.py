"""Stores and checks shared by the site tests (test_site_*.py): small mlruns/ folders written file by file
(tests/mlruns_builder), the build call, and page-level safety assertions."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from urllib.parse import urlsplit

from bs4 import BeautifulSoup

import mlruns_builder as mb
from reportgen.site import build_site

T0 = mb.T0


def points(values: list[float], start: int = 0) -> list[tuple[int, float, int]]:
    return [(T0 + 1000 * i, value, start + i) for i, value in enumerate(values)]


def demo_store(root: Path) -> Path:
    """Two experiments: 'vision' with 4 runs (lr x seed), a parent with a child, artifacts; 'empty'."""
    exp = mb.experiment(root, "1", "vision", tags={"mlflow.note.content": "Image **models**"})
    for index, (lr, seed) in enumerate([("0.1", "1"), ("0.1", "2"), ("0.01", "1"), ("0.01", "2")], start=1):
        decay = float(lr) * 10
        mb.run(exp, index, name=f"lr{lr}-s{seed}", params={"lr": lr, "seed": seed, "optimizer": "adam"},
               metrics={"loss": points([math.exp(-decay * i / 5) + int(seed) / 100 for i in range(20)]),
                        "accuracy": points([1 - math.exp(-decay * i / 5) for i in range(20)])},
               tags={"team": "cv", "mlflow.runName": f"lr{lr}-s{seed}", "mlflow.user": "alice",
                     "mlflow.source.name": "train.py", "mlflow.source.git.commit": "abc123"})
    parent_id = mb.run(exp, 5, name="sweep", params={"lr": "0.5"}, metrics={"loss": points([0.9, 0.8])})
    mb.run(exp, 6, name="trial", metrics={"loss": points([0.7, 0.6])}, tags={"mlflow.parentRunId": parent_id})
    artifacts = exp / f"{1:032x}" / "artifacts"
    mb.write(artifacts / "notes.txt", "hello\nworld\n")
    mb.write(artifacts / "table.csv", "a,b\n1,2\n3,4\n")
    mb.write(artifacts / "plots" / "curve.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    mb.write(artifacts / "report.html", "<h1>Report</h1><script>parent.document.title='x'</script>")
    mb.write(artifacts / "README.md", "# Readme\n\nSome *text*.")
    mb.write(artifacts / "config.json", '{"b": 1, "a": [1, 2]}')
    mb.write(artifacts / "model.bin", b"\x00\x01\x02" * 100)
    mb.experiment(root, "2", "empty")
    return root


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under folder (two sites are the same site when equal)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def build(store: Path, out: Path, **options) -> object:
    options.setdefault("static_charts", False)  # vl-convert images are slow; tests opt in
    return build_site([str(store)], out, **options)


def build_experiment(store: str, out: Path, experiment_id: str, **options) -> object:
    """A build of one experiment of a store (a server's URL, a database, a folder), without static images."""
    return build_site([store], out, experiments=[experiment_id], static_charts=False, **options)


def artifact_sections(site: Path) -> dict[str, str]:
    """Each run page's artifact section (its HTML, normalised by BeautifulSoup), by page: two routes to the
    same runs (server, database, folder) must show the same."""
    sections = {}
    for page in sorted((site / "r").glob("*.html")):
        section = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser").select_one("section.rg-artifacts")
        assert section is not None, page
        sections[page.name] = str(section)
    return sections


def copied_files(site: Path) -> dict[str, bytes]:
    """Every file in the run folders (r/<run>/files/...): the copied artifacts and their bytes."""
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted((site / "r").glob("*/**/*"))
            if p.is_file()}


def html_pages(out: Path) -> dict[str, BeautifulSoup]:
    return {path.relative_to(out).as_posix(): BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
            for path in sorted(out.rglob("*.html")) if "/files/" not in path.as_posix()}


def json_blocks(soup: BeautifulSoup) -> list[object]:
    return [json.loads(tag.string or "null") for tag in soup.find_all("script", type="application/json")]


def assert_safe_page(name: str, soup: BeautifulSoup, out: Path) -> None:
    """The page guarantees of issue 4: CSP first, no inline executable script, no on* attribute, no
    javascript: or remote resource URL, every relative link pointing at a file of the site."""
    head = soup.head
    first = head.find(True)
    assert first.name == "meta" and first.get("charset") == "utf-8", name
    csp = head.find_all(True)[1]
    assert csp.get("http-equiv") == "Content-Security-Policy", name
    assert "connect-src 'none'" in csp["content"] and "default-src 'none'" in csp["content"]
    for script in soup.find_all("script"):
        if script.get("type") == "application/json":
            assert "<" not in (script.string or ""), f"{name}: raw '<' inside a JSON block"
            continue
        src = script.get("src")
        assert src and not urlsplit(src).scheme and src.endswith(".js"), f"{name}: inline or remote script {script}"
    for tag in soup.find_all(True):
        for attribute, value in tag.attrs.items():
            assert not attribute.lower().startswith("on"), f"{name}: {attribute} on <{tag.name}>"
            if attribute in ("href", "src", "action", "formaction", "poster", "data"):
                text = str(value).strip().lower()
                assert not text.startswith(("javascript:", "vbscript:")), f"{name}: {attribute}={value}"
                if attribute != "href":
                    assert not text.startswith(("http:", "https:", "//")), f"{name}: remote {attribute}={value}"
    page_dir = (out / name).parent
    for tag in soup.find_all(["a", "link", "img", "script", "iframe"]):
        url = tag.get("href") or tag.get("src")
        if not url or url.startswith(("data:", "#")) or urlsplit(url).scheme in ("http", "https"):
            continue
        target = (page_dir / urlsplit(url).path).resolve()
        assert target.is_file(), f"{name}: broken link {url}"
        assert out.resolve() in target.parents, f"{name}: link {url} leaves the site"


def same_as_full(tmp_path: Path, store: Path, out: Path, **options) -> None:
    """Builds the store in full (no cache) beside `out` and asserts both sites are identical, file by file."""
    import shutil

    full = tmp_path / "full"
    shutil.rmtree(full, ignore_errors=True)
    build(store, full, **options)
    expected, got = tree_digest(full), tree_digest(out)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if expected[name] != got[name]] == []
