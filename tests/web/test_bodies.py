from __future__ import annotations

import time

from app.json_input import MAX_JSON_DEPTH, json_object
from app.signing import genesys_signature, slack_signature, verify_genesys, verify_slack
from app.web.slack_events import parse_body


def nested(depth: int) -> str:
    return "[" * (depth - 1) + "{}" + "]" * (depth - 1)


def test_json_object_takes_objects_up_to_the_depth_limit() -> None:
    assert json_object(b'{"a": [1, {"b": "c"}]}') == {"a": [1, {"b": "c"}]}
    assert json_object('{"x": ' + nested(MAX_JSON_DEPTH - 1) + "}") is not None
    assert json_object('{"x": ' + nested(MAX_JSON_DEPTH) + "}") is None


def test_json_object_refuses_what_would_make_a_parser_raise() -> None:
    for raw in (b"[" * 100_000, b"{nope", b'{"a":"\xff"}', b"null", b"[]", b'"s"', b""):
        assert json_object(raw) is None, raw


def test_parse_body_follows_the_content_type() -> None:
    assert parse_body(b'{"type":"x"}', "application/json; charset=utf-8") == {"type": "x"}
    assert parse_body(b"payload=%7B%22type%22%3A1%7D", "application/x-www-form-urlencoded") == {
        "type": 1
    }
    assert parse_body(b"ssl_check=1&token=t", "application/x-www-form-urlencoded") == {
        "ssl_check": "1",
        "token": "t",
    }
    assert parse_body(b"payload=%7Bnope", "application/x-www-form-urlencoded") is None
    assert parse_body(b"a=\xff", "application/x-www-form-urlencoded") is None
    assert parse_body(b'{"type":"x"}', "text/plain") is None


def test_signatures_with_non_ascii_characters_are_refused_not_raised() -> None:
    now = time.time()
    stamp = str(int(now))
    good = slack_signature("secret", stamp, b"{}")
    assert verify_slack("secret", timestamp=stamp, signature=good, body=b"{}", now=now)
    for signature in ("v0=caf\u00e9", good[:-1] + "\u00ff", "\udcff"):
        assert not verify_slack("secret", timestamp=stamp, signature=signature, body=b"{}")
    for timestamp in ("\u0661\u0662", " " + stamp, "9" * 400, "-1"):
        assert not verify_slack("secret", timestamp=timestamp, signature=good, body=b"{}")
    assert verify_genesys("s", signature=genesys_signature("s", b"x"), body=b"x")
    assert not verify_genesys("s", signature="sha256=\u00e9\u00ff", body=b"x")


def test_brackets_inside_strings_do_not_make_a_shallow_object_deep() -> None:
    shallow = '{"text": "' + "{[" * MAX_JSON_DEPTH + '"}'
    assert json_object(shallow.encode()) == {"text": "{[" * MAX_JSON_DEPTH}
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    assert json_object('{"a": ' + deep + "}") is None
