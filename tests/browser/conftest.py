"""Browser tests: the system Chromium, driven by Playwright's async API on pytest-asyncio's
session loop, against the app and both simulators from `live.running_stack`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    async_playwright,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.browser.live import OpenPage, Screenshot, Stack, running_stack
from tests.e2e.conftest import empty_database
from tests.e2e.stack import System, running_system

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Every page here is local and answers in milliseconds; fail fast instead of Playwright's 30 s.
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def chromium() -> Path:
    """A missing browser fails the suite (never skips it): CI must install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not at {CHROMIUM}: install the chromium package "
            "(apt-get install -y chromium) to run the browser tests.",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def open_page(browser: Browser) -> AsyncIterator[OpenPage]:
    """A page in a fresh browser context (its own cookies), as many as a test needs."""
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Pages answered 401/403 on purpose are logged as "Failed to load resource" too;
        # failed subresources are caught by `on_response`, so only the rest counts here
        # (a CSP violation, a script error).
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console: {message.text}")

    def on_response(response: Response) -> None:
        request = response.request
        if (
            response.status >= 400
            and request.resource_type != "document"
            and not request.url.endswith("/favicon.ico")
        ):
            problems.append(f"{response.status} for {request.resource_type} {request.url}")

    async def open_page() -> Page:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        context.on("console", on_console)
        context.on("response", on_response)
        context.on("weberror", lambda error: problems.append(f"page error: {error.error}"))
        contexts.append(context)
        return await context.new_page()

    yield open_page
    for context in contexts:
        await context.close()
    # A stylesheet blocked by the CSP, a missing asset or a script error fails the test.
    assert not problems, "the browser console reported errors:\n" + "\n".join(problems)


@pytest.fixture
def screenshot() -> Screenshot:
    """Full-page PNGs in test-artifacts/screenshots/ (git-ignored), to look at by eye."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> None:
        await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    return take


@pytest.fixture
def stack(database_url: str, clean_db: None) -> Iterator[Stack]:
    """Servers stop before `clean_db` empties the tables, as it was set up first."""
    with running_stack(database_url) as running:
        yield running


@pytest.fixture(scope="module")
async def system(
    request: pytest.FixtureRequest,
    database_url: str,
    engine: AsyncEngine,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[System]:
    """The real web and worker processes with both simulators, one set per test module (the
    flows in a module share it), on an empty database before and after."""
    logs = tmp_path_factory.mktemp(f"{request.module.__name__.rsplit('.', 1)[-1]}-logs")
    await empty_database(engine)
    try:
        async with running_system(database_url, logs, webs=1, workers=1) as running:
            yield running
    finally:
        await empty_database(engine)
