"""What people are told when a message cannot cross, in words, kept apart from the delivery code.

Pure. A problem that passes (Genesys down, rate limits, a refused message) is told apart from a
set-up problem, which only an admin can fix; the installing admin is then told what is wrong
and where to fix it (`setup_alert_text`). IDs and causes only, never what anyone wrote.
"""

from __future__ import annotations

NOT_DELIVERED_NOTICE = (
    ":warning: This message could not be delivered to support right now. Please try again later."
)
SETUP_PROBLEM_NOTICE = (
    ":warning: This message did not reach support: Switchboard is not set up correctly "
    "for this workspace. An admin has been told."
)
# Files of a customer's message that support did not get (too large, not readable).
FILES_REFUSED_NOTICE = (
    ":paperclip: Support did not receive {names}. The rest of your message was passed on."
)
# The failure notice becomes this once a replayed dead letter is delivered after all.
# Outside a routing rule's business hours, unless the tenant wrote its own away message.
AWAY_NOTICE = (
    ":crescent_moon: Our support team is outside its business hours right now. Your message "
    "has been passed on, and someone will answer when the team is back."
)
DELIVERED_LATER_NOTICE = ":white_check_mark: This message was delivered to support after all."
# An agent's file that could not be shared in Slack; `{names}` are escaped file names.
AGENT_FILE_NOT_PASSED_ON = (
    ":warning: Support sent {names}, but it could not be passed on here. "
    "Please ask them to send it another way."
)
# That notice becomes this once a replayed dead letter shares the file after all.
AGENT_FILE_PASSED_ON_LATER = ":white_check_mark: Support's file was passed on after all."
# To someone who clicks a button or picker of a conversation that is not theirs (ephemeral).
NOT_YOURS_NOTE = (
    "Only the person who started this conversation with support can answer here. "
    "To ask support yourself, mention the app in a new message or send it a DM."
)
SETUP_ALERT_HEADLINE = ":rotating_light: Switchboard could not pass messages on to Genesys Cloud."
# Failures only an admin can fix (the `reason` of a dead letter, up to its first ":").
_SETUP_PROBLEMS = {
    "genesys_not_connected": "no Genesys Cloud org is connected to Switchboard, or no Open "
    "Messaging integration is chosen for {purpose}.",
    "GenesysAuthError": "Genesys Cloud refuses Switchboard's OAuth client ID or secret.",
    "GenesysPermissionError": "the OAuth client's role lacks a permission Switchboard needs "
    "(conversation:message:receive).",
    "GenesysNotFound": "Genesys Cloud does not know the Open Messaging integration chosen for "
    "{purpose} (it may have been deleted).",
}


def is_setup_problem(reason: str) -> bool:
    return reason.split(":", 1)[0] in _SETUP_PROBLEMS


def setup_alert_text(reason: str, *, conversation_kind: str, setup_url: str | None) -> str:
    """The DM to the installing admin: what is wrong and where to fix it."""
    purpose = "DMs" if conversation_kind == "dm" else "channel mentions"
    problem = _SETUP_PROBLEMS[reason.split(":", 1)[0]].format(purpose=purpose)
    fix = f"Fix it on the set-up page: {setup_url}" if setup_url else "Fix it on the set-up page."
    return (
        f"{SETUP_ALERT_HEADLINE} The cause: {problem} People who write to support are told "
        f"that it is not set up correctly and that an admin has been told. {fix} "
        "(This alert is sent at most once an hour.)"
    )


def agent_file_notice(escaped_names: list[str], escaped_text: str | None) -> str:
    """The notice posted in place of an agent's file that failed for good; the agent's own
    words, when there were any, are kept above it so nothing they wrote is lost."""
    line = AGENT_FILE_NOT_PASSED_ON.format(names=", ".join(escaped_names) or "a file")
    return f"{escaped_text}\n\n{line}" if escaped_text else line


def files_refused_notice(labels: list[str]) -> str:
    """The customer's notice for files that did not cross (`name (why)`), never contents."""
    shown = [label[:160] for label in labels[:5]]
    listed = ", ".join(shown) + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
    return FILES_REFUSED_NOTICE.format(names=listed or "a file")


# Posted in the thread or DM once the Genesys conversation has ended (the agent closed it, or
# the customer clicked End chat); the customer's next message starts a new one.
CLOSED_NOTICE = "Support closed this conversation."
# End chat was clicked but the tenant's Genesys client may not end conversations.
END_CHAT_REFUSED_NOTICE = (
    ":information_source: This chat cannot be ended from Slack for this workspace; "
    "support will close it."
)
# End chat clicked by someone other than the conversation's person (sent only to them).
END_CHAT_NOT_YOURS_NOTE = "Only the person who asked for help can end this chat."
