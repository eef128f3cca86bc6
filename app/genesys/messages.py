"""What we read back from Genesys, as small pydantic models.

Request bodies stay plain dicts built by the bridge: the SDK's models drop
`channel.metadata.customAttributes` and `content[].contentType`, and a typed copy here would
drift the same way. The models below ignore fields they do not name, because Genesys adds
fields over time and an unknown one must never fail a message that was already accepted.
The integration's webhook secret is read only to compare it with ours, as a `SecretStr`, and
only when Genesys returns it at all (UNCONFIRMED).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, ValidationError


class _GenesysModel(BaseModel):
    model_config = ConfigDict(
        extra="ignore", frozen=True, validate_by_name=True, validate_by_alias=True
    )


class InboundAccepted(_GenesysModel):
    """Genesys took an inbound message. Any 2xx means that (external-contracts §G2), so both ids are
    optional: whether `conversationId` comes back without `prefetchConversationId=true` is
    UNCONFIRMED, and an answer without `id` must not be retried into a duplicate."""

    genesys_message_id: str | None = Field(default=None, alias="id")
    genesys_conversation_id: str | None = Field(default=None, alias="conversationId")


class EntityRef(_GenesysModel):
    id: str
    name: str | None = None


class CreateError(_GenesysModel):
    code: str | None = None
    message: str | None = None


class OpenIntegration(_GenesysModel):
    """An Open Messaging integration as onboarding needs to judge it: provisioned
    (`createStatus`), bound to a message flow (`recipient`), pointed at our webhook."""

    id: str
    name: str
    status: str | None = None
    create_status: str | None = Field(default=None, alias="createStatus")
    create_error: CreateError | None = Field(default=None, alias="createError")
    webhook_url: str | None = Field(default=None, alias="outboundNotificationWebhookUrl")
    webhook_headers: dict[str, str] = Field(default_factory=dict, alias="webhookHeaders")
    recipient: EntityRef | None = None
    webhook_secret: SecretStr | None = Field(
        default=None, alias="outboundNotificationWebhookSignatureSecretToken"
    )
    supported_content: EntityRef | None = Field(default=None, alias="supportedContent")
    messaging_setting: EntityRef | None = Field(default=None, alias="messagingSetting")

    @property
    def is_provisioned(self) -> bool:
        """Creation is asynchronous; until `Completed` the integration cannot take messages."""
        return self.create_status == "Completed"

    @property
    def has_recipient(self) -> bool:
        return self.recipient is not None


class MessageRecipient(_GenesysModel):
    """An integration's message routing recipient; without a `flow` bound to it, Genesys
    accepts inbound messages and never routes them to an agent."""

    id: str
    name: str | None = None
    flow: EntityRef | None = None


class PermissionPolicy(_GenesysModel):
    domain: str
    entity_name: str = Field(alias="entityName")
    actions: list[str] = Field(default_factory=list)

    def allows(self, permission: str) -> bool:
        """`domain:entity:action`; Genesys roles may grant `*` for the entity or the action."""
        domain, _, rest = permission.partition(":")
        entity, _, action = rest.partition(":")
        return (
            self.domain == domain
            and self.entity_name in (entity, "*")
            and any(granted in (action, "*") for granted in self.actions)
        )


class GrantedRole(_GenesysModel):
    id: str | None = None
    name: str | None = None
    policies: list[PermissionPolicy] = Field(default_factory=list)


class Grant(_GenesysModel):
    role: GrantedRole | None = None


class AuthzSubject(_GenesysModel):
    """`GET /api/v2/authorization/subjects/me`: the caller's roles and their policies."""

    grants: list[Grant] = Field(default_factory=list)

    def allows(self, permission: str) -> bool:
        return any(
            policy.allows(permission)
            for grant in self.grants
            if grant.role is not None
            for policy in grant.role.policies
        )


class IntegrationPage(_GenesysModel):
    entities: list[OpenIntegration] = Field(default_factory=list)
    page_count: int | None = Field(default=None, alias="pageCount")


class ReceiptReason(_GenesysModel):
    code: str
    message: str | None = None


class ReceiptResult(_GenesysModel):
    """A receipt POST can answer 2xx and still say `status: "Failed"` with reasons
    (external-contracts §G3), so callers must look at `failed`, not only at the absence of an
    exception."""

    genesys_message_id: str | None = Field(default=None, alias="id")
    status: str
    reasons: list[ReceiptReason] = Field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "Failed"


# --- the outbound webhook (what Genesys posts to us) ------------------------------------------
# Only the envelope every delivery has is modelled: what a payload's other fields mean depends
# on its `type` and each content item's `contentType`, and an unknown one must be acknowledged,
# not refused, so `app.bridge.outbound` reads those itself. A string field is never coerced.

_Required = Annotated[str, StringConstraints(min_length=1)]


class WebhookChannel(_GenesysModel):
    genesys_integration_id: _Required = Field(alias="id")
    time: str | None = None
    # Read only where the type needs them (`to.id` names the recipient; `from` the agent).
    to: Any = None
    sender: Any = Field(default=None, alias="from")


class OutboundWebhook(_GenesysModel):
    """The envelope every outbound webhook has, whatever its type. `channel` is optional here
    only so that its absence is reported as "channel must be an object", as a wrong type is."""

    genesys_message_id: _Required = Field(alias="id")
    channel: WebhookChannel | None = None
    genesys_conversation_id: str | None = Field(default=None, alias="conversationId")
    type: _Required


class OutboundMessageFields(_GenesysModel):
    """What a `Text` or `Structured` message adds; never read for other types, so a receipt
    or an event is not refused for a field it does not use."""

    text: str | None = None
    content: list[dict[str, Any]] | None = None
    originating_entity: str | None = Field(default=None, alias="originatingEntity")


_PROBLEMS = {
    "missing": "is required",
    "string_too_short": "is required",
    "string_type": "must be a string",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be an array",
}


def first_problem(exc: ValidationError) -> str:
    """The first thing wrong with a payload, named by its JSON path (`content[0] must be an
    object`), for the 400 Genesys gets. Paths use the wire names, never values."""
    error = exc.errors()[0]
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return f"{path or 'payload'} {_PROBLEMS.get(error['type'], 'is not valid')}"
