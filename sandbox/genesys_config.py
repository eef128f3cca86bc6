"""Switches of the Genesys sim: the behaviour the reference marks UNCONFIRMED, and speed.

Patched at run time through `PATCH /_sandbox/config`; every field is validated, unknown ones
are refused so a typo in a benchmark script fails loudly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GenesysConfig(BaseModel):
    """Defaults are the sim's best guess; tests and the benchmark flip them to check that the
    bridge copes with either answer. "UNCONFIRMED" means no primary source settles it."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # Multiplies the webhook sender's 10 s timeout and 5 s retry spacing.
    time_scale: float = Field(default=1.0, gt=0, le=10)
    # UNCONFIRMED: inbound endpoints answer 200 or 202.
    inbound_status: Literal[200, 202] = 200
    # UNCONFIRMED: `conversationId` only in answers to `?prefetchConversationId=true`.
    conversation_id_only_when_prefetch: bool = False
    # Overrides every client's token lifetime (Genesys allows 300..172800 s, default 24 h).
    token_ttl_seconds: int | None = Field(default=None, ge=1, le=172800)
    # UNCONFIRMED: GET integration echoes the webhook secret.
    return_secret_on_get: bool = False
    # Not documented: the status for inbound calls to a not yet Completed integration.
    initiated_integration_status: Literal[400, 404] = 404
    integration_create_delay_seconds: float = Field(default=5.0, ge=0)
    integration_create_result: Literal["Completed", "Error"] = "Completed"
    # The login host's status for invalid_client (RFC 6749 says 401 for Basic auth).
    bad_credentials_status: Literal[400, 401] = 401
    # UNCONFIRMED: the ErrorBody `code` of a 403 for a missing permission.
    missing_permission_code: str = "missing.permissions"
    # UNCONFIRMED: Genesys drops a repeated `channel.messageId`; off = every call is a message.
    dedupe_inbound_message_id: bool = False
    # UNCONFIRMED for these endpoints: per-token requests per minute (platform default 300).
    rate_limit_per_minute: int | None = Field(default=None, ge=1)
    # Genesys demands HTTPS on 443 for the webhook; off so a local bridge on http works.
    require_https_webhook: bool = False
    # UNCONFIRMED: outbound media download URLs need a bearer token. On by default: the SDK's
    # DownloadsApi is an OAuth endpoint that redirects to the login page (fidelity review W3).
    download_requires_auth: bool = True
    # UNCONFIRMED: `GET /api/v2/authorization/subjects/me` lists a client-credentials client's
    # roles and permissions (documented "for the currently authenticated user"); off = 400.
    subjects_me_answers_client_credentials: bool = True
    # UNCONFIRMED: inbound endpoints check the body before the permission, so a client lacking
    # `conversation:message:receive` gets 400 (not 403) for an invalid body.
    inbound_body_checked_before_permission: bool = False
    # UNCONFIRMED: the longest inbound `text` (external-contracts §G4: 4000 is documented for
    # agent text on this channel). Counted in UTF-16 code units, as Java's String.length()
    # counts, so an emoji counts twice: the strictest reading. None: no limit.
    inbound_text_limit: int | None = Field(default=4000, ge=1)
    # UNCONFIRMED: Genesys fetches an inbound attachment when it accepts the message, or only
    # when the agent opens it (then a link must still be valid later).
    attachment_fetch: Literal["on_accept", "on_open"] = "on_accept"
    # The largest attachment Genesys takes (25 MB, its supported content profiles page).
    attachment_max_bytes: int = Field(default=25_000_000, ge=1)
    # The integration's supported content profile, inbound: media types Genesys keeps (an
    # attachment of another type is dropped). The default profile allows every inbound type.
    inbound_media_types: list[str] = Field(default_factory=lambda: ["*/*"])
    # UNCONFIRMED: an inbound message or structured response answered 2xx without its `id`.
    inbound_answer_without_id: bool = False
    # UNCONFIRMED: the customer's next message after an end reopens the ended conversation (the
    # same `conversationId`, the customer reconnected) instead of opening a new one.
    ended_conversation_reopens: bool = False
    # Where agents' profile images (`User.images[].imageUri`) are served. Real Genesys serves
    # them from a public https host of the region; None: from this sim's own http host, which
    # a client that takes only https images will skip. Tests set an https host here.
    user_image_base_url: str | None = None
