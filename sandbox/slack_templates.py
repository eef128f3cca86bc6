"""The simulated Slack's Jinja templates, shared by its pages, consent screens and file errors."""

from __future__ import annotations

from pathlib import Path

from starlette.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
