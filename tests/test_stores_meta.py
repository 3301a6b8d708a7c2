"""Specifies reportgen.stores._meta: the flat meta.yaml parser agrees with YAML whenever it answers."""
from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen import mlruns
from reportgen.stores._meta import parse_flat

_scalar = st.one_of(
    st.none(), st.integers(-10**15, 10**15), st.text(max_size=20), st.from_regex(r"[0-9][0-9a-fxXbB_.:eE+-]{0,12}", fullmatch=True),
    st.sampled_from(["yes", "no", "null", "1.5", "0x1F", "0b11", "0B11", "012", "0008dbc7", "1e5", "1_000", "a: b", "#x", "~", ""]),
)


@settings(max_examples=80, deadline=None)
@given(st.dictionaries(st.sampled_from(["run_id", "name", "status", "user_id", "artifact_uri", "tags"]), _scalar, min_size=1))
def test_flat_meta_parser_agrees_with_yaml(data):
    text = mlruns.dump_meta(data)
    fast = parse_flat(text)
    if fast is not None:  # None means "not sure": the YAML parser takes over
        assert fast == yaml.safe_load(text)
