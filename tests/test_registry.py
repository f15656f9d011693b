"""Name lookup: the value for a known name, a ValueError listing the valid names otherwise."""

from __future__ import annotations

import pytest

from mlp.registry import lookup


def test_lookup():
    table = {"b": 2, "a": 1}
    assert lookup(table, "a", "thing") == 1
    with pytest.raises(ValueError, match="unknown thing 'c'; valid: a, b"):
        lookup(table, "c", "thing")
    with pytest.raises(ValueError, match="unknown thing None; valid: a, b"):
        lookup(table, None, "thing")
