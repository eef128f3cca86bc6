"""Test connection: what Switchboard can prove about a tenant's Genesys set-up, row by row.

A row says Pass only for what was actually checked against Genesys. What could not be checked
(Genesys does not show it, the client may not read it, an earlier step failed) is a Warning
or Skipped with the reason, because a Pass that was never earned is how a broken set-up ships
and the first real message fails.

Rows: the token grant; the client's permissions (and the optional ones for agent names and
the end of conversations) (its role policies from
`GET /api/v2/authorization/subjects/me`, or, where Genesys does not answer that for client
credentials, a probe that sends an empty typing event and reads 403 apart from 400); then per
integration: provisioned, a message flow bound to its routing recipient, our webhook URL, and
our webhook secret where Genesys returns it. Nothing is sent to an agent unless the admin asks
for a test message. Sources and assumptions: docs/decisions.md, "Test connection".
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from app.genesys.client import GenesysClient
from app.genesys.errors import (
    GenesysAuthError,
    GenesysError,
    GenesysNotFound,
    GenesysPermissionError,
    GenesysRateLimited,
    GenesysRejected,
    GenesysUnavailable,
)
from app.genesys.messages import OpenIntegration

TEST_MESSAGE_TEXT = "Switchboard connection test: you can ignore this message."

RECEIVE = "conversation:message:receive"
VIEW = "messaging:integration:view"
EDIT = "messaging:integration:edit"
ROUTING = "routing:message:manage"
# Reading who answers a conversation, for replies under the agent's name (optional).
NAMES = "conversation:message:view"
# Ending a conversation, for the customer's End chat button (optional); reading one (NAMES)
# is also how the worker learns that support closed it.
DISCONNECT = "conversation:communication:disconnect"
# What each permission is for, in the words the admin sees.
REQUIRED = {
    RECEIVE: "send people's messages and delivery receipts into Genesys",
    VIEW: "read the integrations",
}
OPTIONAL = {
    EDIT: "set each integration's webhook for you",
    ROUTING: "check that a message flow is bound",
}
ADD_TO_ROLE = (
    "In Genesys Cloud, add it to a role assigned to the OAuth client "
    "(Admin > Integrations > OAuth > your client > Roles), then test again."
)

Status = Literal["pass", "fail", "warning", "skip"]


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class ChosenIntegration:
    """A stored integration as the check needs it; `webhook_secret` is ours, decrypted for the
    comparison only and never shown."""

    genesys_integration_id: str
    label: str
    wiring: str  # "auto" | "manual"
    webhook_secret: str


def error_hint(exc: GenesysError) -> str:
    if isinstance(exc, GenesysAuthError):
        return (
            "Genesys rejected the client ID or secret. In Genesys Cloud, open Admin > "
            "Integrations > OAuth, check the client uses the Client Credentials grant, and "
            "copy its ID and secret again."
        )
    if isinstance(exc, GenesysPermissionError):
        missing = ", ".join(exc.missing_permissions) or "a permission"
        return f"The OAuth client's roles lack {missing}. Add it to a role assigned to the client."
    if isinstance(exc, GenesysRateLimited):
        return "Genesys is rate-limiting this client right now. Try again in a minute."
    if isinstance(exc, GenesysUnavailable):
        return "Genesys Cloud did not answer. Check the region, then try again."
    if isinstance(exc, GenesysNotFound):
        return "Genesys did not find it. Check the region and the ID."
    return "Genesys refused the request."


def _names(permissions: Sequence[str], meaning: dict[str, str]) -> str:
    return "; ".join(f"{p} (to {meaning[p]})" for p in permissions)


class ConnectionCheck:
    def __init__(self, client: GenesysClient, *, webhook_url: str, tenant_id: uuid.UUID) -> None:
        self._client = client
        self._webhook_url = webhook_url
        self._tenant_id = tenant_id
        # Skipped unless Genesys lists the client's permissions (nothing else shows this one).
        self._names = Check(
            "Agent names",
            "skip",
            f"Genesys did not list the client's permissions, so {NAMES} was not checked.",
        )
        self._ends = Check(
            "Conversation end",
            "skip",
            f"Genesys did not list the client's permissions, so {NAMES} and {DISCONNECT} "
            "were not checked.",
        )

    async def run(
        self, chosen: Sequence[ChosenIntegration], *, send_test_message: bool
    ) -> list[Check]:
        try:
            await self._client.fetch_token()
        except GenesysError as exc:
            return [Check("Token grant", "fail", "No token was issued.", error_hint(exc))]
        checks = [Check("Token grant", "pass", "Genesys issued an access token.")]
        permissions = await self._permissions(chosen)
        checks.append(permissions)
        checks.append(self._names)
        checks.append(self._ends)
        if not chosen:
            checks.append(
                Check(
                    "Integrations",
                    "fail",
                    "No integrations are chosen for mentions and DMs.",
                    "Choose the Open Messaging integrations below and save.",
                )
            )
        for integration in chosen:
            checks.extend(await self._integration(integration))
        if send_test_message and chosen:
            checks.append(await self._test_message(chosen[0], permissions))
        return checks

    # --- permissions -----------------------------------------------------------------------

    async def _permissions(self, chosen: Sequence[ChosenIntegration]) -> Check:
        try:
            subject = await self._client.get_own_permissions()
        except (GenesysRejected, GenesysPermissionError, GenesysNotFound):
            # Genesys may keep subjects/me for users; then ask the inbound endpoint instead.
            return await self._probe_receive(chosen)
        except GenesysError as exc:
            return Check(
                "Permissions",
                "warning",
                "Could not read the client's permissions.",
                error_hint(exc),
            )
        self._names = self._names_check(subject.allows(NAMES))
        self._ends = self._ends_check(subject.allows(NAMES), subject.allows(DISCONNECT))
        missing = [p for p in REQUIRED if not subject.allows(p)]
        if missing:
            return Check(
                "Permissions",
                "fail",
                f"The OAuth client lacks {_names(missing, REQUIRED)}.",
                ADD_TO_ROLE,
            )
        detail = f"The OAuth client's roles grant {', '.join(REQUIRED)}."
        optional = [p for p in OPTIONAL if not subject.allows(p)]
        if optional:
            detail += f" Optional, not granted: {_names(optional, OPTIONAL)}."
        return Check("Permissions", "pass", detail)

    @staticmethod
    def _names_check(allowed: bool) -> Check:
        """Optional, so never a Fail: without it replies go out under the integration's name."""
        if allowed:
            return Check("Agent names", "pass", f"The client may read who answers ({NAMES}).")
        return Check(
            "Agent names",
            "warning",
            f"The OAuth client lacks {NAMES}, so replies show the integration's name, "
            "not the agent's.",
            f"To show agents' names, add {NAMES}. {ADD_TO_ROLE}",
        )

    @staticmethod
    def _ends_check(may_read: bool, may_end: bool) -> Check:
        """Optional, so never a Fail: without reading, Slack is not told when support closes
        a conversation; without ending, the End chat button is not offered."""
        if may_read and may_end:
            return Check(
                "Conversation end",
                "pass",
                f"The client may read conversations ({NAMES}), so Slack is told when support "
                f"closes one, and end them ({DISCONNECT}) for the End chat button.",
            )
        lacks = [p for p, ok in ((NAMES, may_read), (DISCONNECT, may_end)) if not ok]
        effects = []
        if not may_read:
            effects.append("Slack is not told when support closes a conversation")
        if not may_end:
            effects.append("people are not offered an End chat button")
        return Check(
            "Conversation end",
            "warning",
            f"The OAuth client lacks {' and '.join(lacks)}, so {' and '.join(effects)}.",
            f"Add {' and '.join(lacks)}. {ADD_TO_ROLE}",
        )

    async def _probe_receive(self, chosen: Sequence[ChosenIntegration]) -> Check:
        """An empty typing event cannot create a message: 403 names a missing permission, and
        400 means Genesys judged the body, which proves the permission only if it checks the
        permission first (UNCONFIRMED), so 400 is a Warning."""
        unlisted = "Genesys did not list the OAuth client's permissions."
        if not chosen:
            return Check(
                "Permissions",
                "skip",
                f"{unlisted} Without an integration, sending could not be tried.",
                "Choose the integrations below, save, then test again.",
            )
        try:
            await self._client.send_inbound_event(chosen[0].genesys_integration_id, {})
        except GenesysPermissionError as exc:
            missing = exc.missing_permissions or [RECEIVE]
            return Check(
                "Permissions",
                "fail",
                f"Genesys refused to take messages from this client: it lacks "
                f"{', '.join(missing)}.",
                ADD_TO_ROLE,
            )
        except GenesysRejected:
            return Check(
                "Permissions",
                "warning",
                f"{unlisted} An empty test event was refused as invalid, not as forbidden, "
                f"which suggests {RECEIVE} is granted but does not prove it.",
                "Tick “Also send a test message” and test again to be sure.",
            )
        except GenesysError as exc:
            return Check(
                "Permissions",
                "warning",
                f"{unlisted} Whether it may send ({RECEIVE}) could not be checked.",
                error_hint(exc),
            )
        return Check("Permissions", "pass", f"Genesys took an event from this client ({RECEIVE}).")

    # --- one integration -------------------------------------------------------------------

    async def _integration(self, chosen: ChosenIntegration) -> list[Check]:
        label = chosen.label
        later = [
            f"Message flow of {label}",
            f"Webhook of {label}",
            f"Webhook secret of {label}",
        ]
        try:
            integration = await self._client.get_integration(chosen.genesys_integration_id)
        except GenesysNotFound:
            first = Check(
                f"Integration {label}",
                "fail",
                "Genesys has no such integration in this org.",
                "Choose an existing Open Messaging integration below and save.",
            )
        except GenesysPermissionError as exc:
            first = Check(
                f"Integration {label}",
                "fail",
                f"The OAuth client may not read it ({VIEW}).",
                error_hint(exc),
            )
        except GenesysError as exc:
            first = Check(f"Integration {label}", "warning", "Could not read it.", error_hint(exc))
        else:
            if integration.create_status == "Completed":
                return [
                    Check(f"Integration {label}", "pass", "Exists and is active."),
                    await self._flow(label, integration),
                    self._webhook_url_check(label, integration),
                    self._secret(chosen, integration),
                ]
            first = Check(
                f"Integration {label}",
                "fail",
                f"Its status is {integration.create_status or 'unknown'}.",
                "Wait until Genesys finishes creating it.",
            )
        return [first] + [
            Check(name, "skip", "Not checked: the integration itself did not pass.")
            for name in later
        ]

    async def _flow(self, label: str, integration: OpenIntegration) -> Check:
        name = f"Message flow of {label}"
        bind = (
            "In Genesys Cloud, open Admin > Message Routing and add this integration to an "
            "inbound message flow."
        )
        if integration.recipient is None:
            return Check(name, "fail", "Genesys shows no message routing recipient for it.", bind)
        try:
            recipient = await self._client.get_message_recipient(integration.recipient.id)
        except GenesysPermissionError:
            return Check(
                name,
                "warning",
                f"Not checked: the OAuth client may not read message routing ({ROUTING}).",
                f"Add {ROUTING} to the client's role, or check by hand in Admin > Message "
                "Routing that an inbound message flow handles this integration.",
            )
        except GenesysNotFound:
            return Check(name, "fail", "Genesys has no message routing recipient for it.", bind)
        except GenesysError as exc:
            return Check(name, "warning", "Could not read its message routing.", error_hint(exc))
        if recipient.flow is None:
            return Check(
                name,
                "fail",
                "No inbound message flow is bound: Genesys would take people's messages and "
                "route them to no one.",
                bind,
            )
        return Check(
            name, "pass", f"Routed by the flow “{recipient.flow.name or recipient.flow.id}”."
        )

    def _webhook_url_check(self, label: str, integration: OpenIntegration) -> Check:
        name = f"Webhook of {label}"
        if integration.webhook_url == self._webhook_url:
            return Check(name, "pass", "Points at Switchboard.")
        return Check(
            name,
            "fail",
            "Its Outbound Notification Webhook URL does not point at Switchboard.",
            f"Set it to {self._webhook_url} (Admin > Message > Platforms), or "
            "save the integrations again with automatic wiring.",
        )

    def _secret(self, chosen: ChosenIntegration, integration: OpenIntegration) -> Check:
        name = f"Webhook secret of {chosen.label}"
        if integration.webhook_secret is not None:
            theirs = integration.webhook_secret.get_secret_value().encode()
            if hmac.compare_digest(theirs, chosen.webhook_secret.encode()):
                return Check(name, "pass", "Matches the secret Switchboard verifies replies with.")
            return Check(
                name,
                "fail",
                "Differs from the secret Switchboard verifies replies with, so every agent "
                "reply would be refused.",
                "Save the integrations again with automatic wiring, or paste the new secret "
                "shown then into the integration (Admin > Message > Platforms).",
            )
        if chosen.wiring == "manual":
            return Check(
                name,
                "warning",
                "The secret cannot be checked: Genesys does not show it. Agent replies fail "
                "until the secret shown when you saved the integrations is pasted into it.",
                "Paste that secret into the integration's Outbound Notification Webhook "
                "Signature Secret Token (Admin > Message > Platforms). Lost it? Save the "
                "integrations again to get a new one.",
            )
        return Check(
            name,
            "skip",
            "Not compared: Genesys does not show the secret. Switchboard set it itself when "
            "the integrations were saved.",
            "If agent replies do not arrive, save the integrations again with automatic wiring.",
        )

    # --- opt-in test message ---------------------------------------------------------------

    async def _test_message(self, chosen: ChosenIntegration, permissions: Check) -> Check:
        """The one check that proves sending end to end; it also settles a Permissions row
        that was only a Warning or Skipped."""
        try:
            await self._client.send_inbound_message(
                chosen.genesys_integration_id,
                {
                    "channel": {
                        "messageId": f"switchboard-test-{uuid.uuid4()}",
                        "time": datetime.now(UTC)
                        .isoformat(timespec="milliseconds")
                        .replace("+00:00", "Z"),
                        "from": {
                            "id": f"switchboard-test:{self._tenant_id}",
                            "idType": "Opaque",
                            "nickname": "Switchboard test",
                        },
                    },
                    "text": TEST_MESSAGE_TEXT,
                },
            )
        except GenesysPermissionError as exc:
            missing = exc.missing_permissions or [RECEIVE]
            if permissions.status != "fail":
                permissions.status = "fail"
                permissions.detail = (
                    f"The test message was refused: the client lacks {', '.join(missing)}."
                )
                permissions.fix = ADD_TO_ROLE
            return Check("Test message", "fail", "Refused for lack of a permission.", ADD_TO_ROLE)
        except GenesysError as exc:
            return Check("Test message", "fail", "Not accepted.", error_hint(exc))
        if permissions.status in ("warning", "skip"):
            permissions.status = "pass"
            permissions.detail = f"The test message proved the client may send ({RECEIVE})."
            permissions.fix = None
        return Check("Test message", "pass", "Genesys accepted a test message.")
