"""Block Kit, drawn as the Slack client draws it, with its interactive elements live.

Sections (text, fields, an accessory), context, images, dividers, headers and actions with
buttons, static selects and date pickers. Every string from the message is escaped; the only
HTML is the markup written here. A button, a select or a date picker is a small form that posts
to `/act`, which sends the app the `block_actions` payload Slack would (`slack_actions`).
Link buttons open their URL, as in Slack, and also tell the app.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from sandbox.slack_mrkdwn import UserName, to_html

JsonObject = dict[str, Any]
INTERACTIVE = ("button", "static_select", "datepicker")


@dataclass(frozen=True)
class Clicker:
    """Who looks at the message, and where: carried by every form so `/act` knows."""

    slack_team_id: str
    slack_user_id: str
    slack_channel_id: str
    ts: str


def text_object(obj: Any, user_name: UserName) -> Markup:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return Markup("")
    return to_html(obj["text"], user_name=user_name, plain=obj.get("type") != "mrkdwn")


def _hidden(clicker: Clicker, block_id: str, action_id: str) -> str:
    fields = {
        "team": clicker.slack_team_id,
        "user": clicker.slack_user_id,
        "channel": clicker.slack_channel_id,
        "ts": clicker.ts,
        "block_id": block_id,
        "action_id": action_id,
    }
    return "".join(
        f'<input type="hidden" name="{name}" value="{escape(value)}">'
        for name, value in fields.items()
    )


def _form(clicker: Clicker, block_id: str, element: JsonObject, inner: str) -> str:
    action_id = str(element.get("action_id") or "")
    return (
        f'<form class="element" method="post" action="/act" target="_top">'
        f"{_hidden(clicker, block_id, action_id)}{inner}</form>"
    )


def _button(element: JsonObject, block_id: str, clicker: Clicker, user_name: UserName) -> str:
    label = text_object(element.get("text"), user_name)
    style = element.get("style") if element.get("style") in ("primary", "danger") else "default"
    url = element.get("url")
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        # A link button opens the URL in the browser and still sends the app a click.
        inner = (
            f'<button type="submit" class="block-button {style}" data-url="{escape(url)}" '
            f"onclick=\"window.open(this.dataset.url, '_blank', 'noopener')\">{label} ↗</button>"
        )
    else:
        inner = f'<button type="submit" class="block-button {style}">{label}</button>'
    return _form(clicker, block_id, element, inner)


def _options(element: JsonObject) -> list[JsonObject]:
    options = [o for o in element.get("options") or [] if isinstance(o, dict)]
    for group in element.get("option_groups") or []:
        if isinstance(group, dict):
            options += [o for o in group.get("options") or [] if isinstance(o, dict)]
    return options


def _select(element: JsonObject, block_id: str, clicker: Clicker, user_name: UserName) -> str:
    placeholder = text_object(element.get("placeholder"), user_name) or Markup("Select")
    initial = (element.get("initial_option") or {}).get("value")
    shown = [
        f'<option value="" disabled{" selected" if initial is None else ""}>{placeholder}</option>'
    ]
    for index, option in enumerate(_options(element)):
        chosen = " selected" if option.get("value") == initial else ""
        label = text_object(option.get("text"), user_name)
        shown.append(f'<option value="{index}"{chosen}>{label}</option>')
    inner = (
        f'<select name="option" class="block-select" aria-label="{escape(placeholder.striptags())}"'
        f' onchange="this.form.requestSubmit()">{"".join(shown)}</select>'
        f'<noscript><button type="submit">Choose</button></noscript>'
    )
    return _form(clicker, block_id, element, inner)


def _datepicker(element: JsonObject, block_id: str, clicker: Clicker, user_name: UserName) -> str:
    initial = element.get("initial_date") if isinstance(element.get("initial_date"), str) else ""
    placeholder = text_object(element.get("placeholder"), user_name) or Markup("Pick a date")
    inner = (
        f'<input type="date" name="date" value="{escape(initial)}" '
        f'aria-label="{escape(placeholder.striptags())}" required>'
        f'<button type="submit" class="block-button default">Send date</button>'
    )
    return _form(clicker, block_id, element, inner)


def _image(element: JsonObject, css: str) -> str:
    url = element.get("image_url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return ""
    alt = element.get("alt_text") if isinstance(element.get("alt_text"), str) else ""
    return f'<img class="{css}" src="{escape(url)}" alt="{escape(alt)}">'


def _element(element: Any, block_id: str, clicker: Clicker, user_name: UserName) -> str:
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "button":
        return _button(element, block_id, clicker, user_name)
    if kind == "static_select":
        return _select(element, block_id, clicker, user_name)
    if kind == "datepicker":
        return _datepicker(element, block_id, clicker, user_name)
    if kind == "image":
        return _image(element, "block-thumb")
    if kind in ("mrkdwn", "plain_text"):
        return f"<span>{text_object(element, user_name)}</span>"
    return f'<span class="unsupported">[{escape(str(kind))} is not shown here]</span>'


def _block(block: JsonObject, clicker: Clicker, user_name: UserName) -> str:
    kind = block.get("type")
    block_id = str(block.get("block_id") or "")
    if kind == "header":
        return f"<h3>{text_object(block.get('text'), user_name)}</h3>"
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        words = text_object(block.get("text"), user_name)
        parts = [f'<div class="section-text">{words}</div>'] if words else []
        fields = [f"<div>{text_object(f, user_name)}</div>" for f in block.get("fields") or []]
        if fields:
            parts.append(f'<div class="fields">{"".join(fields)}</div>')
        if isinstance(block.get("accessory"), dict):
            parts.append(_element(block["accessory"], block_id, clicker, user_name))
        return f'<div class="section">{"".join(parts)}</div>'
    if kind == "context":
        elements = [_element(e, block_id, clicker, user_name) for e in block.get("elements") or []]
        return f'<div class="context">{"".join(elements)}</div>'
    if kind == "image":
        title = text_object(block.get("title"), user_name)
        caption = f"<figcaption>{title}</figcaption>" if title else ""
        return f"<figure>{_image(block, 'block-image')}{caption}</figure>"
    if kind == "actions":
        elements = [_element(e, block_id, clicker, user_name) for e in block.get("elements") or []]
        return f'<div class="actions">{"".join(elements)}</div>'
    return f'<p class="unsupported">[a {escape(str(kind))} block is not shown here]</p>'


def shows_blocks(blocks: list[Any] | None) -> bool:
    """User messages carry a `rich_text` copy of their text; the text shows those better."""
    return any(isinstance(b, dict) and b.get("type") != "rich_text" for b in blocks or [])


def blocks_html(blocks: list[Any], clicker: Clicker, user_name: UserName) -> Markup:
    shown = [_block(b, clicker, user_name) for b in blocks if isinstance(b, dict)]
    return Markup("".join(shown))
