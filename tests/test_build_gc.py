"""A build leaves the read data out of garbage collection while it renders (gc.freeze), and gives the
collector back as it found it."""
from __future__ import annotations

import gc

import pytest

import reportgen.site.builder as builder
from site_stores import build, demo_store

pytestmark = pytest.mark.filterwarnings("ignore::reportgen.stores.base.ReadWarning")


def test_the_read_data_is_frozen_while_pages_render_and_thawed_after(tmp_path, monkeypatch):
    store = demo_store(tmp_path / "mlruns")
    seen = []
    original = builder.SiteBuilder.build

    def build_and_look(self):
        seen.append(gc.get_freeze_count())
        original(self)

    monkeypatch.setattr(builder.SiteBuilder, "build", build_and_look)
    assert gc.get_freeze_count() == 0
    build(store, tmp_path / "site")
    assert seen and seen[0] > 0  # the runs read were frozen
    assert gc.get_freeze_count() == 0


def test_a_caller_that_froze_objects_keeps_them_frozen(tmp_path, monkeypatch):
    store = demo_store(tmp_path / "mlruns")
    seen = []
    original = builder.SiteBuilder.build
    monkeypatch.setattr(builder.SiteBuilder, "build", lambda self: (seen.append(gc.get_freeze_count()), original(self)))
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        build(store, tmp_path / "site")
        # Neither frozen more (the read data) nor thawed: the count only drops as frozen objects die.
        assert 0 < seen[0] <= frozen and 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()
