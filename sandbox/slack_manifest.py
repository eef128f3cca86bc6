"""The scopes our Slack app declares, read from the same manifest used to create the real app.

Slack refuses an authorize request that asks for a scope the app's configuration does not
declare, so the simulator reads `infra/slack/manifest.yml` (or a manifest a test names) and
refuses the same requests: the product and the manifest cannot drift apart unnoticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "infra" / "slack" / "manifest.yml"


@dataclass(frozen=True)
class DeclaredScopes:
    bot: frozenset[str]
    user: frozenset[str]


def _scope_list(scopes: dict[str, Any], kind: str, path: Path) -> frozenset[str]:
    values = scopes.get(kind) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{path}: oauth_config.scopes.{kind} must be a list of scope names")
    return frozenset(values)


def declared_scopes(path: Path = DEFAULT_MANIFEST) -> DeclaredScopes:
    manifest = yaml.safe_load(path.read_text())
    oauth = manifest.get("oauth_config") if isinstance(manifest, dict) else None
    scopes = oauth.get("scopes") if isinstance(oauth, dict) else None
    if not isinstance(scopes, dict):
        raise ValueError(f"{path}: no oauth_config.scopes")
    return DeclaredScopes(
        bot=_scope_list(scopes, "bot", path), user=_scope_list(scopes, "user", path)
    )
