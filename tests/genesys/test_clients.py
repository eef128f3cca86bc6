"""`GenesysClients`: one client (and so one token) per tenant until its credentials change."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from app.genesys.client import GenesysClient, shared_tls
from app.genesys.clients import GenesysClients
from app.genesys.regions import GenesysHosts
from sandbox.genesys_app import create_genesys_sandbox
from sandbox.genesys_world import (
    SANDBOX_DMS_INTEGRATION_ID,
    SANDBOX_ORG_CLIENT_ID,
    SANDBOX_ORG_CLIENT_SECRET,
    GenesysWorld,
)

HOSTS = GenesysHosts(api_base="http://genesys.sim", login_base="http://genesys.sim")
TYPING = {"channel": {"from": {"id": "T1:U1"}}, "events": [{"eventType": "Typing"}]}


class Factory:
    """Builds clients on one simulated org and remembers each one it built."""

    def __init__(self, world: GenesysWorld) -> None:
        self.app = create_genesys_sandbox(world)
        self.built: list[GenesysClient] = []

    def __call__(self) -> GenesysClient:
        client = GenesysClient(
            HOSTS,
            client_id=SANDBOX_ORG_CLIENT_ID,
            client_secret=SANDBOX_ORG_CLIENT_SECRET,
            transport=httpx.ASGITransport(app=self.app),
        )
        self.built.append(client)
        return client


async def test_same_version_returns_the_same_client() -> None:
    factory, cache, tenant_id = Factory(GenesysWorld.seeded()), GenesysClients(), uuid.uuid4()
    first = await cache.get(tenant_id, credentials_version="v1", factory=factory)
    again = await cache.get(tenant_id, credentials_version="v1", factory=factory)
    assert again is first
    assert factory.built == [first]
    await cache.aclose()


async def test_tenants_get_their_own_clients() -> None:
    factory, cache = Factory(GenesysWorld.seeded()), GenesysClients()
    one = await cache.get(uuid.uuid4(), credentials_version="v1", factory=factory)
    two = await cache.get(uuid.uuid4(), credentials_version="v1", factory=factory)
    assert one is not two
    await cache.aclose()
    assert one.is_closed and two.is_closed


async def test_concurrent_gets_build_one_client() -> None:
    factory, cache, tenant_id = Factory(GenesysWorld.seeded()), GenesysClients(), uuid.uuid4()
    clients = await asyncio.gather(
        *(cache.get(tenant_id, credentials_version="v1", factory=factory) for _ in range(10))
    )
    assert len(factory.built) == 1
    assert all(client is clients[0] for client in clients)
    await cache.aclose()


async def test_new_version_replaces_and_closes_the_old_client() -> None:
    world = GenesysWorld.seeded()
    factory, cache, tenant_id = Factory(world), GenesysClients(), uuid.uuid4()
    old = await cache.get(tenant_id, credentials_version="v1", factory=factory)
    await old.send_inbound_event(SANDBOX_DMS_INTEGRATION_ID, TYPING)
    new = await cache.get(tenant_id, credentials_version="v2", factory=factory)
    assert new is not old
    assert old.is_closed and not new.is_closed
    await new.send_inbound_event(SANDBOX_DMS_INTEGRATION_ID, TYPING)
    assert world.stats.token_grants == {SANDBOX_ORG_CLIENT_ID: 2}
    await cache.aclose()


async def test_drop_forgets_the_token_at_once() -> None:
    world = GenesysWorld.seeded()
    factory, cache, tenant_id = Factory(world), GenesysClients(), uuid.uuid4()
    old = await cache.get(tenant_id, credentials_version="v1", factory=factory)
    await old.send_inbound_event(SANDBOX_DMS_INTEGRATION_ID, TYPING)
    await cache.drop(tenant_id)
    assert old.is_closed
    new = await cache.get(tenant_id, credentials_version="v1", factory=factory)
    assert new is not old
    await new.send_inbound_event(SANDBOX_DMS_INTEGRATION_ID, TYPING)
    assert (old.token_grants, new.token_grants) == (1, 1)
    assert world.stats.token_grants == {SANDBOX_ORG_CLIENT_ID: 2}
    await cache.drop(uuid.uuid4())  # an unknown tenant is a no-op
    await cache.aclose()


async def test_past_the_cap_the_least_recently_used_client_is_closed() -> None:
    factory, cache = Factory(GenesysWorld.seeded()), GenesysClients(max_clients=2)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    first = await cache.get(a, credentials_version="v1", factory=factory)
    second = await cache.get(b, credentials_version="v1", factory=factory)
    assert await cache.get(a, credentials_version="v1", factory=factory) is first  # a is fresh
    third = await cache.get(c, credentials_version="v1", factory=factory)
    assert second.is_closed and not first.is_closed and not third.is_closed
    # A tenant whose client was closed gets a new one on its next call.
    again = await cache.get(b, credentials_version="v1", factory=factory)
    assert again is not second and not again.is_closed
    assert first.is_closed  # now the least recently used
    await cache.aclose()


def test_every_tenants_client_shares_one_tls_context() -> None:
    one = GenesysClient(HOSTS, client_id="a", client_secret="s")
    two = GenesysClient(HOSTS, client_id="b", client_secret="s")
    assert shared_tls() is shared_tls()
    for client in (one, two):
        pool = client._oauth._transport._pool  # httpx's default transport, built from `verify`
        assert pool._ssl_context is shared_tls()
