"""Structured JSON logs that carry IDs, never secrets or message text.

Every record becomes one JSON line with the request or job ID of the work it belongs to, so
one message can be followed from the Slack event through the worker to Genesys and back.
Redaction runs on every record as the last line of defence: known secret-bearing keys are
replaced wholesale, and token-shaped strings anywhere in the text are masked.

The web writes one line per Slack event and Genesys webhook, so a line must cost microseconds,
not the ~100 µs of a dozen regular expressions per field: a value made only of letters,
digits and `_.-` (every ID we log) is checked with one match instead of every pattern, a
message without arguments is scrubbed once per process, each key is classified once, and the
timestamp's date and time are formatted once a second.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

trace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)

REDACTED = "[redacted]"
# Keys whose values are never logged, whatever they hold.
_SECRET_KEYS = re.compile(
    r"(token|secret|password|passwd|authorization|cookie|signature|text|body|payload|"
    r"email|api_key|credential)",
    re.IGNORECASE,
)
# Token shapes that must not survive even inside a free-text message or exception.
_SECRET_VALUES = [
    re.compile(r"xox[abeprs]-[A-Za-z0-9-]+"),
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)basic\s+[A-Za-z0-9+/=]{8,}"),
    re.compile(r"sha256=[A-Za-z0-9+/=]{20,}"),
    re.compile(r"v0=[0-9a-f]{32,}"),
    re.compile(r"v1:[A-Za-z0-9]+:[A-Za-z0-9_-]{16,}"),
    re.compile(r"(?i)(client_secret|password|secret|code|state|token)=[^&\s\"']+"),
    re.compile(r"postgres(?:ql)?(?:\+asyncpg)?://[^\s@]+@"),
    # Libraries that quote a whole request body (Bolt does on a bad signature): drop the rest.
    re.compile(r"(?is)\bbody[:=]\s*[\[{].*"),
    re.compile(r'"(?:text|email|real_name|display_name)"\s*:\s*"(?:[^"\\]|\\.)*"'),
    re.compile(
        r"'(?:text|email|real_name|display_name|blocks)'\s*:\s*(?:'(?:[^'\\]|\\.)*'|\"[^\"]*\")"
    ),
    # slack_sdk's debug line quotes the request's json/data/params dicts whole.
    re.compile(r"\b(?:json|data|params|files|headers): \{.*?\}(?=, \w+: |$)"),
]
# Attributes every LogRecord has; anything else came in through `extra=`.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


# Letters, digits and `_.-` only: no whitespace, `=`, `:`, quote or brace, which every shape
# above needs but a Slack token's (`xox?-`), checked apart. IDs, outcomes and plain words.
_PLAIN = re.compile(r"[A-Za-z0-9_.-]*")
# Messages and keys come from the code, a bounded set; the caches stop growing past this.
_CACHE_LIMIT = 4096
_scrubbed_messages: dict[str, str] = {}
_secret_keys: dict[str, bool] = {}


def scrub(value: str) -> str:
    if _PLAIN.fullmatch(value) and "xox" not in value:
        return value
    for pattern in _SECRET_VALUES:
        value = pattern.sub(REDACTED, value)
    return value


def _is_secret_key(key: str) -> bool:
    known = _secret_keys.get(key)
    if known is None:
        known = _SECRET_KEYS.search(key) is not None
        if len(_secret_keys) < _CACHE_LIMIT:
            _secret_keys[key] = known
    return known


def _clean(key: str, value: Any) -> Any:
    if _is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


def _message(record: logging.LogRecord) -> str:
    """The record's message, scrubbed; a message without arguments only once."""
    if record.args or not isinstance(record.msg, str):
        return scrub(record.getMessage())
    cached = _scrubbed_messages.get(record.msg)
    if cached is None:
        cached = scrub(record.msg)
        if len(_scrubbed_messages) < _CACHE_LIMIT:
            _scrubbed_messages[record.msg] = cached
    return cached


_ENCODER = json.JSONEncoder(ensure_ascii=False)


class _Clock:
    """ISO 8601 UTC with milliseconds, the date and time part formatted once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{int((created - second) * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._clock.format(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": _message(record),
        }
        current = trace_id.get()
        if current:
            entry["trace_id"] = current
        fields = vars(record)
        # In the order they were given (a set difference alone would shuffle them).
        extra = fields.keys() - _RESERVED
        if extra:
            for key in fields:
                if key in extra and not key.startswith("_"):
                    entry[key] = _clean(key, fields[key])
        if record.exc_info and record.exc_info[1] is not None:
            # Exception types and where they came from, never their messages: a database
            # error quotes the row and the statement's parameters, others quote their input.
            entry["exc_type"] = type(record.exc_info[1]).__name__
            entry["exc"] = scrub("".join(exception_outline(record.exc_info[1])))
        return _ENCODER.encode(entry)


def exception_outline(exc: BaseException) -> list[str]:
    """A traceback, causes first, with each exception's type and frames and none of its
    message or source lines."""
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    chain: list[BaseException] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    for position, item in enumerate(reversed(chain)):
        if position:
            lines.append("\nwhich led to:\n")
        lines.append("Traceback (most recent call last):\n")
        # Where, not what: no source lines either (a literal there would be logged too).
        lines.extend(
            f'  File "{frame.f_code.co_filename}", line {lineno}, in {frame.f_code.co_name}\n'
            for frame, lineno in traceback.walk_tb(item.__traceback__)
        )
        kind = type(item)
        lines.append(f"{kind.__module__}.{kind.__qualname__} (message withheld)\n")
    return lines


def configure_logging(level: str) -> None:
    # No record carries where it was logged from, its thread or its process: the formatter
    # writes none of them, and finding the caller walks the stack on every call (the logging
    # HOWTO's "Optimization" section names these switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Libraries that log request bodies or headers at debug stay at warning.
    for noisy in (
        "httpx",
        "httpcore",
        "slack_sdk",
        "slack_bolt",
        "app.slack.bolt",
        "aiohttp",
        "asyncio",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn installs its own plain-text handlers before it builds the app; its error log
    # holds the traceback of a failed request, so it must go through the formatter too.
    # `--no-access-log` (the Procfile's) leaves the access logger without handlers and not
    # propagating: it stays off, or every request would log a second line.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        server_log = logging.getLogger(name)
        if name == "uvicorn.access" and not server_log.handlers and not server_log.propagate:
            continue
        server_log.handlers[:] = []
        server_log.propagate = True


_TRACE_ID = re.compile(rb"[A-Za-z0-9._-]{8,64}")


def request_trace_id(incoming: bytes | None) -> str:
    """A valid incoming `X-Request-ID` header's value, or a new random ID."""
    if incoming is not None and _TRACE_ID.fullmatch(incoming):
        return incoming.decode("ascii")
    # 128 random bits as 32 hex digits, like `uuid4().hex` without building a UUID.
    return os.urandom(16).hex()


class RequestTrace:
    """Gives each HTTP request a trace ID (or keeps a valid incoming `X-Request-ID`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = request_trace_id(dict(scope.get("headers") or []).get(b"x-request-id"))
        token = trace_id.set(value)
        # Also kept in the scope: the server-error page is built after this frame has reset
        # the context variable, and it quotes the id to the person who met the fault.
        scope["trace_id"] = value

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", value.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            trace_id.reset(token)
