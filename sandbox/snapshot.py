"""The simulators' state on disk, so `make dev` can stop and start without losing it.

Real Slack and Genesys do not forget a workspace, an install, a bot token or an integration's
webhook because our laptop restarted; the product's database keeps its half across a restart,
so the simulators must keep theirs or the two disagree (a stored bot token the simulated Slack
no longer knows answers `invalid_auth`). The snapshot is JSON: every record is a dataclass,
written with its class name and fields and rebuilt field by field, so a field added to a record
later simply takes its default when an older snapshot is loaded.

What is not state is left out: how the server was started (URLs, clock, manifest scopes), armed
faults, and per-request logs kept only for tests.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import logging
import os
from collections import deque
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel

from sandbox.genesys_world import GenesysWorld
from sandbox.slack_world import SlackWorld

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Attributes that describe how a world was started or only serve tests, never its state.
SLACK_TRANSIENT = frozenset(
    {
        "manifest",
        "declared",
        "events_url",
        "public_url",
        "faults",
        "calls",
        "deliveries",
        "last_delivery",
        # rate-limit counters on the monotonic clock, meaningless after a restart
        "limits",
        "event_times",
        "rate_limited_notified",
    }
)
GENESYS_TRANSIENT = frozenset({"clock", "faults", "fetch_tasks"})


class SnapshotError(ValueError):
    """The file is not a snapshot this code can read."""


class Encoder:
    """JSON-ready form of plain data, dataclasses, pydantic models and the Slack signing key.

    A record held in two places (an install's bot token is also in the token table) is written
    once and referred to after, so revoking the token still deactivates the install on reload.
    One encoder per snapshot, so references reach across both worlds' attributes.
    """

    def __init__(self) -> None:
        self._seen: dict[int, int] = {}
        self._keep: list[object] = []  # ids stay unique only while the objects live

    def __call__(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, bytes):
            return {"$bytes": base64.b64encode(value).decode()}
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, tuple):
            return {"$tuple": [self(item) for item in value]}
        if isinstance(value, frozenset):
            return {"$frozenset": [self(item) for item in sorted(value, key=repr)]}
        if isinstance(value, set):
            return {"$set": [self(item) for item in sorted(value, key=repr)]}
        if isinstance(value, deque):
            return {"$deque": [self(item) for item in value]}
        if isinstance(value, dict):
            return {"$map": [[self(key), self(item)] for key, item in value.items()]}
        if isinstance(value, Path):
            return {"$path": str(value)}
        if isinstance(value, rsa.RSAPrivateKey):
            pem = value.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            return {"$rsa": pem.decode()}
        if isinstance(value, BaseModel):
            return {"$model": _class_name(type(value)), "v": value.model_dump(mode="json")}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if id(value) in self._seen:
                return {"$ref": self._seen[id(value)]}
            number = self._seen[id(value)] = len(self._seen)
            self._keep.append(value)
            fields = {f.name: self(getattr(value, f.name)) for f in dataclasses.fields(value)}
            return {"$dc": _class_name(type(value)), "n": number, "f": fields}
        raise TypeError(f"cannot snapshot a {type(value).__name__}")


class Decoder:
    def __init__(self) -> None:
        self._records: dict[int, Any] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        tag = next(iter(value), None)
        if tag == "$bytes":
            return base64.b64decode(value["$bytes"])
        if tag == "$tuple":
            return tuple(self(item) for item in value["$tuple"])
        if tag == "$frozenset":
            return frozenset(self(item) for item in value["$frozenset"])
        if tag == "$set":
            return {self(item) for item in value["$set"]}
        if tag == "$deque":
            return deque(self(item) for item in value["$deque"])
        if tag == "$map":
            return {self(key): self(item) for key, item in value["$map"]}
        if tag == "$path":
            return Path(value["$path"])
        if tag == "$rsa":
            return serialization.load_pem_private_key(value["$rsa"].encode(), password=None)
        if tag == "$model":
            model = _class(value["$model"])
            if not issubclass(model, BaseModel):
                raise SnapshotError(f"{value['$model']} is not a model")
            return model.model_validate(value["v"])
        if tag == "$ref":
            return self._records[value["$ref"]]
        if tag == "$dc":
            return self._rebuild(_class(value["$dc"]), value["n"], value["f"])
        raise SnapshotError(f"unknown snapshot tag {tag!r}")

    def _rebuild(self, cls: type, number: int, saved: dict[str, Any]) -> Any:
        if not dataclasses.is_dataclass(cls):
            raise SnapshotError(f"{cls.__name__} is not a record")
        record = object.__new__(cls)
        self._records[number] = record
        for f in dataclasses.fields(cls):
            if f.name in saved:
                value = self(saved[f.name])
            elif f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                raise SnapshotError(f"{cls.__name__}.{f.name} is missing")
            object.__setattr__(record, f.name, value)
        return record


def _class_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _class(name: str) -> type:
    """Only the simulators' own classes can be named, so a snapshot cannot build anything else."""
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith("sandbox."):
        raise SnapshotError(f"{name} is not a simulator class")
    found: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        found = getattr(found, part)
    if not isinstance(found, type):
        raise SnapshotError(f"{name} is not a class")
    return found


def _state_of(world: object, transient: frozenset[str], encode: Encoder) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for name, value in vars(world).items():
        if name in transient:
            continue
        try:
            state[name] = encode(value)
        except TypeError as exc:  # a new kind of attribute: keep the rest, say which one
            log.warning("sandbox snapshot skips an attribute", extra={"attribute": name})
            log.debug("snapshot skip reason: %s", exc)
    return state


def _restore(
    world: object, state: dict[str, Any], transient: frozenset[str], decode: Decoder
) -> None:
    for name, value in state.items():
        if name not in transient and hasattr(world, name):
            setattr(world, name, decode(value))


def dump(slack: SlackWorld, genesys: GenesysWorld) -> str:
    encode = Encoder()
    return json.dumps(
        {
            "version": FORMAT_VERSION,
            "slack": _state_of(slack, SLACK_TRANSIENT, encode),
            "genesys": _state_of(genesys, GENESYS_TRANSIENT, encode),
        },
        separators=(",", ":"),
    )


def load(text: str, slack: SlackWorld, genesys: GenesysWorld) -> None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SnapshotError("not JSON") from exc
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise SnapshotError("not a snapshot of this version")
    decode = Decoder()
    _restore(slack, data["slack"], SLACK_TRANSIENT, decode)
    _restore(genesys, data["genesys"], GENESYS_TRANSIENT, decode)


class SnapshotFile:
    """One file, written atomically (temp file, then rename) and only when the state changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._written: str | None = None

    def load_into(self, slack: SlackWorld, genesys: GenesysWorld) -> bool:
        """Restore from the file if there is one; a file that cannot be read is set aside
        (renamed `*.unreadable`) and the worlds start from the seed."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return False
        try:
            load(text, slack, genesys)
        except (SnapshotError, KeyError, TypeError, AttributeError, ImportError):
            aside = self.path.with_suffix(".unreadable")
            self.path.replace(aside)
            log.warning("sandbox state unreadable, starting from the seed", extra={"file": aside})
            return False
        self._written = text
        return True

    def save(self, slack: SlackWorld, genesys: GenesysWorld) -> bool:
        text = dump(slack, genesys)
        if text == self._written:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(0o600)  # it holds the sandbox's tokens and webhook secrets
        temporary.replace(self.path)
        self._written = text
        return True
