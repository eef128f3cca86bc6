from __future__ import annotations

from app.db.text import storable, storable_text


def test_nul_is_dropped_and_lone_surrogates_are_replaced() -> None:
    assert storable_text("a\x00b") == "ab"
    assert storable_text("lone \ud800 and \udfff") == "lone \ufffd and \ufffd"
    assert storable_text("pair \U0001f600 stays") == "pair \U0001f600 stays"


def test_storable_cleans_keys_and_values_at_any_depth() -> None:
    value = {"k\x00": ["x\x00y", {"z": "\ud83d"}, 1, None, True]}
    assert storable(value) == {"k": ["xy", {"z": "\ufffd"}, 1, None, True]}


def test_a_payload_that_needs_nothing_is_not_copied_and_one_that_does_is_not_changed() -> None:
    clean = {"event": {"text": "caf\u00e9 \U0001f600", "blocks": [{"n": 1}]}, "ok": True}
    assert storable(clean) is clean
    dirty = {"event": {"text": "a\x00b", "blocks": [{"k\ud800": "x"}]}}
    assert storable(dirty) == {"event": {"text": "ab", "blocks": [{"k\ufffd": "x"}]}}
    assert dirty["event"]["text"] == "a\x00b"
