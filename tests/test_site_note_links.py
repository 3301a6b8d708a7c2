"""Relative links and images in a run's note: pointed at the run's artifacts copied into the site, or
shown as text (with a warning) when they name no copied file; nothing escapes the run's files."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

import mlruns_builder as mb
from reportgen.site.markdown_html import LocalLinks, render_markdown
from site_stores import build, html_pages

RUN = f"{1:032x}"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NOTE = "\n".join([
    "![confusion](plots/cm.png)",
    "[log](./logs/train.txt)",
    "[log line](logs/train.txt?raw=1#L3)",
    "![gone](plots/missing.png)",
    "[escape](../../../etc/passwd) and [escape 2](plots/../../meta.yaml)",
    "[big](big.txt)",
    "<a href='logs/train.txt'>raw html link</a> <img src='plots/cm.png' alt='raw image'>",
    "<img src='https://evil.example/x.png'> <img src='data:image/png;base64,AAAA'> <a href='logs/none.txt'>n</a>",
    "![remote](https://evil.example/y.png) [web](https://example.com/page)",
    "[js](javascript:alert(1)) <a href='JaVaScRiPt:alert(2)' onclick='alert(3)'>x</a>",
    "<img src='plots/cm.png' onerror='alert(4)'>",
])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("notes")
    store = root / "mlruns"
    exp = mb.experiment(store, "1", "exp")
    mb.run(exp, 1, name="noted", tags={"mlflow.note.content": NOTE})
    artifacts = exp / RUN / "artifacts"
    mb.write(artifacts / "plots" / "cm.png", PNG)
    mb.write(artifacts / "logs" / "train.txt", "epoch 1\nepoch 2\n")
    mb.write(artifacts / "big.txt", "x" * 5000)  # listed, too large to copy
    out = root / "site"
    result = build(store, out, max_artifact_size=1000)
    note = html_pages(out)[f"r/{RUN}.html"].select_one(".rg-note")
    return out, result, note


def _target(out: Path, url: str) -> Path:
    """The site file a URL on the run page (r/RUN.html) points at."""
    return (out / "r" / urlsplit(url).path).resolve()


def test_image_and_text_links_point_at_the_copied_files(site):
    out, _, note = site
    image = note.find("img", alt="confusion")
    assert image is not None and _target(out, image["src"]).read_bytes() == PNG
    links = {a.get_text(): a.get("href") for a in note.find_all("a")}
    assert _target(out, links["log"]).read_text() == "epoch 1\nepoch 2\n"
    assert _target(out, links["raw html link"]) == _target(out, links["log"])
    assert note.find("img", alt="raw image")["src"] == image["src"]
    # the query means nothing to a copied file; the fragment is kept
    assert links["log line"] == links["log"] + "#L3"
    assert links["web"] == "https://example.com/page"


def test_what_names_no_copied_file_is_text(site):
    _, _, note = site
    text = note.get_text()
    for label in ("gone", "escape", "escape 2", "big"):
        assert label in text
        assert note.find("a", string=label) is None
    assert note.find("img", alt="gone") is None


def test_nothing_leaves_the_run_files(site):
    out, _, note = site
    files = (out / "r" / RUN / "files").resolve()
    for element, name in [(tag, "src") for tag in note.find_all("img")] + [(a, "href") for a in note.find_all("a")]:
        url = element.get(name)
        if url is None or url.startswith("https://example.com"):
            continue
        assert files in _target(out, url).parents and _target(out, url).is_file(), element
    for tag in note.find_all(True):
        assert not any(attr.startswith("on") for attr in tag.attrs), tag
        assert "javascript" not in str(tag.get("href", "")).lower(), tag
    assert "evil.example" not in str(note) and "data:" not in str(note)


def test_unresolved_links_are_problems_naming_the_run(site):
    out, result, _ = site
    notes = [str(p) for p in result.problems if "note links to" in str(p)]
    assert len(notes) == 5 and all(RUN in line for line in notes), notes
    assert any("'plots/missing.png', which is not among the run's copied artifacts" in line for line in notes)
    assert "plots/missing.png" in (out / "problems.html").read_text(encoding="utf-8")


def test_local_links_normalise_and_refuse_escapes():
    links = LocalLinks({"a b/c.txt": "F/c.txt"})
    assert links.resolve("./a%20b/c.txt") == "F/c.txt"
    assert links.resolve("a b/./x/../c.txt#top") == "F/c.txt#top"
    assert links.resolve("../a b/c.txt") is None and links.resolve("a b/../../a b/c.txt") is None
    assert links.resolve(".") is None
    assert links.missed == ["../a b/c.txt", "a b/../../a b/c.txt", "."]
    assert not any(map(LocalLinks.is_local, ["/etc/passwd", "#top", "//host/x", "https://x/y", "mailto:a@b", ""]))


def test_notes_without_links_render_as_before():
    html = render_markdown("![x](plots/cm.png) [a](rel.txt)")
    assert "<img" not in html and 'href="rel.txt"' in html
    links = LocalLinks({})
    assert str(render_markdown("plain *text*", links=links)) == "<p>plain <em>text</em></p>" and not links.missed
