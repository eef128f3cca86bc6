"""Each Genesys region is its own deployment with its own hosts (external-contracts §G9): the sim
serves them as `/login.{domain}`, `/api.{domain}` and `/api-downloads.{domain}` prefixes, and an
org's credentials work only in its region, as they do live.
"""

from __future__ import annotations

import pytest

from app.genesys.regions import REGIONS, hosts_for
from sandbox.genesys_world import (
    REGION_DOMAINS,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    SANDBOX_OTHER_ORG_CLIENT_ID,
    SANDBOX_OTHER_ORG_CLIENT_SECRET,
    GenesysWorld,
)
from tests.sandbox.simulators import basic, genesys_client

INTEGRATIONS = "/api/v2/conversations/messaging/integrations/open"
GRANT = {"grant_type": "client_credentials"}


def test_the_sim_knows_every_region_the_product_offers() -> None:
    assert {region.domain for region in REGIONS} == REGION_DOMAINS


async def test_the_right_region_logs_in_and_reads_integrations() -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        token = await http.post(
            "/login.mypurecloud.com/oauth/token",
            headers=basic(SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET),
            data=GRANT,
        )
        bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
        listed = await http.get(f"/api.mypurecloud.com{INTEGRATIONS}", headers=bearer)
        elsewhere = await http.get(f"/api.mypurecloud.ie{INTEGRATIONS}", headers=bearer)
    assert token.status_code == 200
    assert listed.status_code == 200 and listed.json()["total"] == 3
    # A token is only known in the region that issued it.
    assert elsewhere.status_code == 401 and elsewhere.json()["code"] == "bad.credentials"


@pytest.mark.parametrize(
    ("client_id", "secret", "wrong_host"),
    [
        (SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET, "login.mypurecloud.ie"),
        (SANDBOX_OTHER_ORG_CLIENT_ID, SANDBOX_OTHER_ORG_CLIENT_SECRET, "login.mypurecloud.com"),
    ],
    ids=["acme (us_east_1) in Dublin", "globex (eu_west_1) in US East"],
)
async def test_a_wrong_region_refuses_the_credentials_as_an_unknown_client(
    client_id: str, secret: str, wrong_host: str
) -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        refused = await http.post(
            f"/{wrong_host}/oauth/token", headers=basic(client_id, secret), data=GRANT
        )
        unknown = await http.post(
            f"/{wrong_host}/oauth/token", headers=basic("no-such-client", secret), data=GRANT
        )
    assert refused.status_code == 401
    assert refused.json() == unknown.json()
    assert refused.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "path",
    [
        "/api.mypurecloud.com/oauth/token",  # the login host is login.{domain}
        "/login.example.com/oauth/token",  # not a Genesys region
    ],
)
async def test_only_real_region_hosts_answer(path: str) -> None:
    async with genesys_client(GenesysWorld.seeded()) as http:
        response = await http.post(
            path, headers=basic(SANDBOX_ORG_CLIENT_ID, SANDBOX_ORG_CLIENT_SECRET), data=GRANT
        )
    assert response.status_code == 404


def test_the_product_builds_one_host_per_region_from_a_domain_override() -> None:
    hosts = hosts_for(
        "eu_west_1",
        api_override="http://localhost:8002/api.%7Bdomain%7D",
        login_override="http://localhost:8002/login.{domain}",
    )
    assert hosts.api_base == "http://localhost:8002/api.mypurecloud.ie"
    assert hosts.login_base == "http://localhost:8002/login.mypurecloud.ie"
    with pytest.raises(ValueError, match="unknown Genesys Cloud region"):
        hosts_for("mars_1", api_override="http://x/api.{domain}", login_override="http://x/l")
