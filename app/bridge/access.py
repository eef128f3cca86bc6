"""Who may open requests, applied at delivery, just before anything is sent to Genesys.

The web fast path only stores what Slack sent (ingest must ack within Slack's 3 seconds and
never calls Slack); the worker checks each message to Genesys, a customer's message, edit,
delete or button click, against the tenant's choice (`app.tenants.access`). So later messages
in a conversation that was allowed, and replies by someone else in its thread, meet the same
rule. A message that is not allowed is kept with status `refused` (never lost silently, never
forwarded) and its author gets one polite ephemeral answer for a new message or a click.

Guests (`users.info`) and user group members (`usergroups.users.list`) come from Slack's
directory, cached per process for `app.slack.sender.LOOKUP_TTL_SECONDS`. A lookup that fails
is not a guess: retryable failures retry the message, others dead-letter it.
"""

from __future__ import annotations

import logging

from app.bridge.outcomes import DeliveryContext
from app.bridge.ports import SlackSender
from app.bridge.retries import Permanent, Retryable
from app.retry import RetryableError
from app.slack.errors import SlackError, SlackRateLimited
from app.tenants.access import CHANNELS, DIRECT_MESSAGES, MEMBERS, USERGROUPS

log = logging.getLogger(__name__)

REFUSED_TEXT = (
    "Sorry, this workspace only lets some people or channels open support requests here, so "
    "your message was not sent to the support team. A workspace admin can tell you where to "
    "ask for help."
)


class Refused(Exception):
    """The tenant does not let this person, here, open requests."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def refusal(
    slack: SlackSender,
    context: DeliveryContext,
    *,
    slack_user_id: str,
    channel_id: str | None,
    scope: str,
) -> str | None:
    """Why the person may not open a request here, or None when they may."""
    tenant = context.tenant
    policy = tenant.request_policy
    try:
        if policy == MEMBERS:
            guest = await slack.is_guest(
                context.token, team_id=context.team_id, scope=scope, slack_user_id=slack_user_id
            )
            return "guest" if guest else None
        if policy == CHANNELS:
            listed = set(tenant.request_channel_ids)
            if context.conversation.kind == "dm":
                return None if DIRECT_MESSAGES in listed else "direct_messages_not_listed"
            return None if channel_id in listed else "channel_not_listed"
        if policy == USERGROUPS:
            for usergroup_id in tenant.request_usergroup_ids:
                members = await slack.usergroup_members(
                    context.token, team_id=context.team_id, scope=scope, usergroup_id=usergroup_id
                )
                if slack_user_id in members:
                    return None
            return "not_in_usergroup"
    except RetryableError as exc:
        limited = isinstance(exc, SlackRateLimited)
        reason = f"access_check:{type(exc).__name__}"
        raise Retryable(reason, exc.retry_after, rate_limited=limited) from None
    except SlackError as exc:
        raise Permanent(f"access_check:{exc.error}") from None
    return None


async def tell_refused(
    slack: SlackSender,
    context: DeliveryContext,
    *,
    slack_user_id: str,
    channel_id: str | None,
    thread_ts: str | None,
) -> None:
    """The polite answer only the refused person sees. A rate limit retries the message
    (the check runs again); any other failure leaves the refusal recorded, unanswered."""
    if not channel_id:
        return
    try:
        await slack.post_ephemeral(
            context.token,
            team_id=context.team_id,
            channel=channel_id,
            slack_user_id=slack_user_id,
            text=REFUSED_TEXT,
            thread_ts=thread_ts,
        )
    except RetryableError as exc:
        limited = isinstance(exc, SlackRateLimited)
        reason = f"ephemeral:{type(exc).__name__}"
        raise Retryable(reason, exc.retry_after, rate_limited=limited) from None
    except SlackError as exc:
        log.info("refusal not shown", extra={"slack_error": exc.error})
