"""Slack's text, shown as the Slack client shows it, and typed as the Slack client sends it.

Message text arrives with `&`, `<` and `>` as entities and with `<…>` tokens for mentions and
links; `to_html` turns it into safe HTML (everything escaped, only the markup made here
survives), with *bold*, _italics_, ~strike~, `code`, links, `@name` mentions and emoji
shortcodes. `compose` is the other way: what a person types becomes the `text` of the event,
escaped as Slack's composer escapes it, with `@name` turned into a `<@U…>` mention.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from markupsafe import Markup, escape

from sandbox.slack_records import SlackUser

# A reasonable table of Slack's shortcodes; anything else is shown as typed.
EMOJI = {
    "white_check_mark": "✅",
    "heavy_check_mark": "✔️",
    "x": "❌",
    "warning": "⚠️",
    "tada": "🎉",
    "wave": "👋",
    "smile": "😄",
    "slightly_smiling_face": "🙂",
    "grinning": "😀",
    "joy": "😂",
    "wink": "😉",
    "thinking_face": "🤔",
    "cry": "😢",
    "heart": "❤️",
    "thumbsup": "👍",
    "+1": "👍",
    "thumbsdown": "👎",
    "-1": "👎",
    "ok_hand": "👌",
    "clap": "👏",
    "pray": "🙏",
    "eyes": "👀",
    "fire": "🔥",
    "rocket": "🚀",
    "star": "⭐",
    "sparkles": "✨",
    "bulb": "💡",
    "memo": "📝",
    "paperclip": "📎",
    "calendar": "📅",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "email": "📧",
    "phone": "📞",
    "package": "📦",
    "lock": "🔒",
    "bell": "🔔",
    "question": "❓",
    "exclamation": "❗",
    "no_entry": "⛔",
    "robot_face": "🤖",
    "coffee": "☕",
    "100": "💯",
}
_TOKEN = re.compile(r"<([^<>\n]+)>")
_CODE_BLOCK = re.compile(r"```(.+?)```", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
# Slack's emphasis needs a word boundary outside the markers and no space just inside them.
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])")
_EMOJI = re.compile(r":([a-z0-9_+\-]+):")
_SAFE_HREF = re.compile(r"(https?://|mailto:)[^\s\"'<>]+\Z", re.IGNORECASE)
_TYPED_MENTION = re.compile(r"(?<![\w@])@([\w.\-]+)")
_USER_TOKEN = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SLOT = "\x00{}\x00"
_SLOT_RE = re.compile("\x00(\\d+)\x00")

UserName = Callable[[str], str | None]


def unescape(text: str) -> str:
    """Slack escapes exactly these three; `&amp;` last, so `&amp;lt;` stays `&lt;`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _token_html(body: str, user_name: UserName) -> str:
    """One `<…>` token as the client shows it; anything unrecognised is shown as written."""
    target, _, label = body.partition("|")
    if target.startswith("@"):
        name = label or user_name(target[1:]) or target[1:]
        return f'<span class="mention">@{escape(unescape(name))}</span>'
    if target.startswith("#"):
        return f'<span class="mention">#{escape(unescape(label or target[1:]))}</span>'
    if target.startswith("!"):
        special = target[1:].split("^", 1)[0]
        return f'<span class="mention">{escape(unescape(label or "@" + special))}</span>'
    href = unescape(target)
    if _SAFE_HREF.match(href):
        shown = escape(unescape(label or target))
        return f'<a href="{escape(href)}" target="_blank" rel="noopener noreferrer">{shown}</a>'
    return str(escape(unescape(f"<{body}>")))


def to_html(text: str, *, user_name: UserName, plain: bool = False) -> Markup:
    """Slack's `text` (or a `mrkdwn`/`plain_text` object's text when `plain`) as safe HTML."""
    if plain:
        return Markup(str(escape(text)).replace("\n", "<br>"))
    slots: list[str] = []

    def keep(html: str) -> str:
        slots.append(html)
        return _SLOT.format(len(slots) - 1)

    text = _CODE_BLOCK.sub(lambda m: keep(f"<pre>{escape(unescape(m.group(1)))}</pre>"), text)
    text = _CODE.sub(lambda m: keep(f"<code>{escape(unescape(m.group(1)))}</code>"), text)
    text = _TOKEN.sub(lambda m: keep(_token_html(m.group(1), user_name)), text)
    html = str(escape(unescape(text)))
    html = _BOLD.sub(r"<b>\1</b>", html)
    html = _ITALIC.sub(r"<i>\1</i>", html)
    html = _STRIKE.sub(r"<s>\1</s>", html)
    html = _EMOJI.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), html)
    html = html.replace("\n", "<br>")
    return Markup(_SLOT_RE.sub(lambda m: slots[int(m.group(1))], html))


def compose(typed: str, people: list[SlackUser]) -> str:
    """What a person typed, as the event's `text`: `&`, `<`, `>` escaped, and `@handle` (or
    `@display name` without spaces) of someone in the workspace turned into `<@U…>`."""
    by_name: dict[str, str] = {}
    for person in people:
        for name in (person.name, person.display_name, person.real_name.replace(" ", "")):
            by_name.setdefault(name.lower(), person.slack_user_id)
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def mention(match: re.Match[str]) -> str:
        found = by_name.get(match.group(1).lower())
        return f"<@{found}>" if found else match.group(0)

    return _TYPED_MENTION.sub(mention, escaped)


def as_typed(text: str, user_name: UserName) -> str:
    """The inverse of `compose`, to put a message back in an edit box."""
    shown = re.sub(
        r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>",
        lambda m: "@" + (user_name(m.group(1)) or m.group(1)),
        text,
    )
    return unescape(shown)
