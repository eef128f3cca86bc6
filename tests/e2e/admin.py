"""A workspace admin on the settings pages of the running web processes, over plain HTTP.

The admin signs in with Slack (our `/signin`, the simulator's consent, our callback) and then
submits the settings forms with the page's CSRF token, as a browser would. Our cookies are
`Secure`, which a plain http client will not send back, so they are carried by hand.
"""

from __future__ import annotations

import re

import httpx

from devkit.harness.tenants import TenantSpec
from tests.e2e.stack import System
from tests.harness import approve


def _cookie_pairs(response: httpx.Response) -> dict[str, str]:
    pairs = {}
    for value in response.headers.get_list("set-cookie"):
        name, _, rest = value.split(";", 1)[0].strip().partition("=")
        pairs[name] = rest
    return pairs


class Admin:
    def __init__(self, system: System, spec: TenantSpec) -> None:
        self.system = system
        self.spec = spec
        self.cookies: dict[str, str] = {}

    @property
    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    async def sign_in(self) -> Admin:
        http, app_url = self.system.http, self.system.app_url
        start = await http.get(f"{app_url}/signin")
        assert start.status_code == 302, start.text
        self.cookies.update(_cookie_pairs(start))
        consent = await approve(
            start.headers["location"], team=self.spec.slack_team_id, user=self.spec.installer
        )
        assert consent.status_code in (302, 303), consent.text
        callback = await http.get(consent.headers["location"], headers=self._headers)
        assert callback.status_code == 303, callback.text
        self.cookies.update(_cookie_pairs(callback))
        assert "sb_session" in self.cookies
        return self

    async def page(self) -> httpx.Response:
        return await self.page_at("/onboarding")

    async def page_at(self, path: str) -> httpx.Response:
        response = await self.system.http.get(f"{self.system.app_url}{path}", headers=self._headers)
        assert response.status_code == 200, response.text
        return response

    async def csrf(self) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', (await self.page()).text)
        assert match, "the settings page carries a CSRF token"
        return match.group(1)

    async def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        form = {"csrf": await self.csrf(), **data}
        return await self.system.http.post(
            f"{self.system.app_url}{path}", data=form, headers=self._headers
        )

    async def save_integrations(
        self, *, mentions: str, dms: str, auto_wire: bool
    ) -> httpx.Response:
        form = {"mentions_integration_id_typed": mentions, "dms_integration_id_typed": dms}
        if auto_wire:
            form["auto_wire"] = "on"
        return await self.post("/onboarding/integrations", form)
