"""`GenesysClient`: one tenant's OAuth client for the Genesys Cloud API, with verbs in our
language. It owns the token: granted once, reused until a minute before it expires, replaced
once when the API answers 401. Every HTTP failure leaves as a `genesys.errors` class.

Bodies go out as plain dicts (see `genesys.messages` for why); answers come back as the
models there. Only IDs, status codes and Genesys `contextId`s are logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import time
import warnings
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import quote

import authlib.deprecate
import certifi
import httpx
from pydantic import BaseModel, ValidationError

from app.genesys.errors import GenesysUnavailable, error_for_response, error_for_token_response
from app.genesys.messages import (
    AuthzSubject,
    InboundAccepted,
    IntegrationPage,
    MessageRecipient,
    OpenIntegration,
    ReceiptResult,
)
from app.genesys.regions import GenesysHosts

# authlib 1.9 prefers the `httpx2` fork and warns once, at import, when it falls back to
# httpx. We pin httpx (our transports and the simulators are httpx), so that warning is
# expected; it is silenced here, for this import only, instead of for the whole process.
# authlib.deprecate is imported first because importing it installs an "always" filter that
# would otherwise sit in front of ours.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore",
        message="The httpx module is deprecated",
        category=authlib.deprecate.AuthlibDeprecationWarning,
    )
    from authlib.integrations.httpx_client import AsyncOAuth2Client

log = logging.getLogger(__name__)

# Refresh this long before `expires_in` runs out, so a token never expires in flight.
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
INTEGRATIONS_PAGE_SIZE = 100

_MESSAGES_PATH = "/api/v2/conversations/messages"
_INTEGRATIONS_PATH = "/api/v2/conversations/messaging/integrations/open"
_RECIPIENTS_PATH = "/api/v2/routing/message/recipients"
_SUBJECTS_ME_PATH = "/api/v2/authorization/subjects/me"

_Model = TypeVar("_Model", bound=BaseModel)


@contextlib.contextmanager
def _transport_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise GenesysUnavailable(f"Genesys did not answer {operation} in time") from exc
    except httpx.TransportError as exc:
        raise GenesysUnavailable(
            f"could not reach Genesys for {operation} ({type(exc).__name__})"
        ) from exc


def _parse(model: type[_Model], response: httpx.Response, *, operation: str) -> _Model:
    """A 2xx we cannot read is treated as retryable: it is a proxy or an outage far more often
    than a changed contract, and inbound messages carry a stable `messageId` on retry."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError:
        # `from None`: a validation error quotes the input, which may hold message text.
        raise GenesysUnavailable(
            f"Genesys answered {operation} with a body we could not read",
            status=response.status_code,
        ) from None


def _accepted(response: httpx.Response, *, operation: str) -> InboundAccepted:
    """Any 2xx is a success: retrying one would post the customer's message twice. The ids are
    kept when the answer carries them; an answer we cannot read is logged and accepted."""
    try:
        return InboundAccepted.model_validate_json(response.content or b"{}")
    except ValidationError:
        log.warning(
            "genesys accepted without a readable answer",
            extra={"operation": operation, "status": response.status_code},
        )
        return InboundAccepted()


def _segment(value: str) -> str:
    return quote(value, safe="")


def _bearer_of(request: httpx.Request) -> str:
    header: str = request.headers.get("Authorization", "")
    return header.partition(" ")[2]


@functools.cache
def shared_tls() -> ssl.SSLContext:
    """One TLS context for every tenant's client. httpx builds a new one per client by default,
    loading the CA bundle each time: about a megabyte and milliseconds of CPU per tenant."""
    return ssl.create_default_context(cafile=certifi.where())


class GenesysClient:
    """One per tenant, kept for the process's lifetime by `GenesysClients`.

    Token rules: a grant happens on first use, when the current token is within
    `TOKEN_REFRESH_MARGIN_SECONDS` of expiring, or when the API answered 401 to the token we
    hold (then the call is retried once; a second 401 is `GenesysAuthError`). All three go
    through one lock, so concurrent calls share a single grant. `token_grants` counts grants
    the login host actually gave.
    """

    def __init__(
        self,
        hosts: GenesysHosts,
        *,
        client_id: str,
        client_secret: str,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hosts = hosts
        self.client_id = client_id
        self.transport = transport
        self.token_grants = 0
        self._clock = clock
        self._token_lock = asyncio.Lock()
        self._token_expires_at: float | None = None
        # authlib ships no type hints, hence the `no-untyped-call` ignores on its calls.
        self._oauth = AsyncOAuth2Client(  # type: ignore[no-untyped-call]
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_basic",
            grant_type="client_credentials",
            token_endpoint=f"{hosts.login_base}/oauth/token",
            # authlib's own expiry check stays as a backstop for a token that truly expired;
            # the early refresh is ours (with `clock`) so it can be tested without sleeping.
            leeway=0,
            base_url=hosts.api_base,
            timeout=timeout,
            transport=transport,
            verify=shared_tls(),
            headers={"Accept": "application/json"},
        )
        self._oauth.register_compliance_hook(  # type: ignore[no-untyped-call]
            "access_token_response", self._read_grant
        )

    @property
    def is_closed(self) -> bool:
        return bool(self._oauth.is_closed)

    async def aclose(self) -> None:
        await self._oauth.aclose()

    async def __aenter__(self) -> GenesysClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- token -----------------------------------------------------------------------------

    def _read_grant(self, response: httpx.Response) -> httpx.Response:
        """authlib hook on every token response, before it parses it: refuse errors in our
        terms (authlib would store a Genesys error body as if it were a token) and note the
        expiry of what we were granted."""
        if not response.is_success:
            error = error_for_token_response(response)
            log.warning(
                "genesys token grant failed",
                extra={"genesys_client_id": self.client_id, "status": response.status_code},
            )
            raise error
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise GenesysUnavailable(
                "Genesys token endpoint answered without an access token",
                status=response.status_code,
            )
        expires_in = body.get("expires_in")
        self._token_expires_at = (
            self._clock() + float(expires_in) if isinstance(expires_in, int | float) else None
        )
        self.token_grants += 1
        log.info(
            "genesys token granted",
            extra={"genesys_client_id": self.client_id, "expires_in": expires_in},
        )
        return response

    def _current_token(self) -> str | None:
        token = self._oauth.token
        return None if token is None else cast(str, token["access_token"])

    def _token_is_fresh(self) -> bool:
        if self._current_token() is None:
            return False
        if self._token_expires_at is None:
            return True
        return self._clock() < self._token_expires_at - TOKEN_REFRESH_MARGIN_SECONDS

    async def _grant(self) -> None:
        if self.is_closed:
            raise GenesysUnavailable("Genesys client was closed before a token grant")
        with _transport_errors("token grant"):
            await self._oauth.fetch_token()  # type: ignore[no-untyped-call]

    async def fetch_token(self) -> None:
        """Grant a new token now, whatever we hold: onboarding's proof that the credentials
        and region work. Raises `GenesysAuthError` when the login host refuses them."""
        async with self._token_lock:
            await self._grant()

    async def _ensure_token(self) -> None:
        async with self._token_lock:
            if not self._token_is_fresh():
                await self._grant()

    async def _replace_token(self, *, rejected: str) -> None:
        """Only the first caller that saw `rejected` refused grants a new token; the others
        find it already replaced and just retry."""
        async with self._token_lock:
            if self._current_token() == rejected:
                await self._grant()

    async def bearer_token(self) -> str:
        """The current access token (granted when there is none or it is about to expire),
        for a request this client does not send itself (`genesys.downloads`)."""
        await self._ensure_token()
        token = self._current_token()
        if token is None:
            raise GenesysUnavailable("Genesys granted no access token")
        return token

    async def token_refused(self, token: str) -> None:
        """Another request's 401 for `token`: replace it once, as `request` would."""
        await self._replace_token(rejected=token)

    # --- requests --------------------------------------------------------------------------

    async def _send(
        self, method: str, path: str, *, operation: str, **kwargs: Any
    ) -> httpx.Response:
        if self.is_closed:
            raise GenesysUnavailable(f"Genesys client was closed before {operation}")
        with _transport_errors(operation):
            response = await self._oauth.request(  # type: ignore[no-untyped-call]
                method, path, **kwargs
            )
        return cast(httpx.Response, response)

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        integration_id: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One authenticated call with the shared token, retried once with a fresh token on 401,
        failures raised as the typed `GenesysError` tree. Public so that read-only lookups
        living in their own module (`genesys/directory.py`) reuse the token and error mapping."""
        await self._ensure_token()
        response = await self._send(method, path, operation=operation, **kwargs)
        if response.status_code == 401:
            log.info(
                "genesys token refused; granting a new one",
                extra={"operation": operation, "genesys_integration_id": integration_id},
            )
            await self._replace_token(rejected=_bearer_of(response.request))
            response = await self._send(method, path, operation=operation, **kwargs)
        if response.is_success:
            return response
        error = error_for_response(response, operation=operation, integration_id=integration_id)
        log.warning(
            "genesys call failed",
            extra={
                "operation": operation,
                "genesys_integration_id": integration_id,
                "status": error.status,
                "genesys_error_code": error.code,
                "genesys_context_id": error.context_id,
            },
        )
        raise error

    async def _post_inbound(
        self,
        integration_id: str,
        kind: str,
        body: dict[str, Any],
        *,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        # Always the per-integration endpoints; the legacy `/inbound/open` is deprecated.
        path = f"{_MESSAGES_PATH}/{_segment(integration_id)}/inbound/open/{kind}"
        return await self.request(
            "POST",
            path,
            operation=f"inbound {kind}",
            integration_id=integration_id,
            json=body,
            params=params,
        )

    # --- inbound (Slack -> Genesys) --------------------------------------------------------

    async def send_inbound_message(
        self,
        integration_id: str,
        body: dict[str, Any],
        *,
        prefetch_conversation_id: bool = True,
    ) -> InboundAccepted:
        """Post a customer message. `prefetchConversationId=true` is asked for by default: the
        bridge links Slack threads to Genesys conversations, and whether the id comes back
        without it is UNCONFIRMED."""
        params = {"prefetchConversationId": "true"} if prefetch_conversation_id else None
        response = await self._post_inbound(integration_id, "message", body, params=params)
        accepted = _accepted(response, operation="inbound message")
        log.debug(
            "genesys inbound message accepted",
            extra={
                "genesys_integration_id": integration_id,
                "genesys_message_id": accepted.genesys_message_id,
                "genesys_conversation_id": accepted.genesys_conversation_id,
            },
        )
        return accepted

    async def send_inbound_event(self, integration_id: str, body: dict[str, Any]) -> None:
        """Typing events; Genesys drops them unless the messaging settings enable typing."""
        await self._post_inbound(integration_id, "event", body)

    async def send_receipt(self, integration_id: str, body: dict[str, Any]) -> ReceiptResult:
        response = await self._post_inbound(integration_id, "receipt", body)
        result = _parse(ReceiptResult, response, operation="inbound receipt")
        if result.failed:
            log.warning(
                "genesys refused a receipt",
                extra={
                    "genesys_integration_id": integration_id,
                    "genesys_message_id": result.genesys_message_id,
                    "reason_codes": [reason.code for reason in result.reasons],
                },
            )
        return result

    async def send_structured_response(
        self, integration_id: str, body: dict[str, Any]
    ) -> InboundAccepted:
        """The customer's answer to a quick reply, button or date picker."""
        response = await self._post_inbound(integration_id, "structured/response", body)
        return _accepted(response, operation="inbound structured response")

    # --- integrations (onboarding) ---------------------------------------------------------

    async def list_integrations(self) -> list[OpenIntegration]:
        """Every Open Messaging integration of the org, all pages."""
        integrations: list[OpenIntegration] = []
        page_number = 1
        while True:
            response = await self.request(
                "GET",
                _INTEGRATIONS_PATH,
                operation="list integrations",
                params={"pageSize": INTEGRATIONS_PAGE_SIZE, "pageNumber": page_number},
            )
            page = _parse(IntegrationPage, response, operation="list integrations")
            integrations.extend(page.entities)
            if not page.entities or page_number >= (page.page_count or page_number):
                return integrations
            page_number += 1

    async def get_integration(self, integration_id: str) -> OpenIntegration:
        response = await self.request(
            "GET",
            f"{_INTEGRATIONS_PATH}/{_segment(integration_id)}",
            operation="get integration",
            integration_id=integration_id,
        )
        return _parse(OpenIntegration, response, operation="get integration")

    async def patch_integration(
        self,
        integration_id: str,
        *,
        name: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        webhook_headers: dict[str, str] | None = None,
    ) -> OpenIntegration:
        """Point an integration at our webhook. Genesys wants the secret longer than 15
        characters and may never show it again, so the caller keeps its own copy.

        The update model requires `name` even when only the webhook changes; pass the name
        just read from Genesys, so an admin's rename there is not undone.
        """
        body: dict[str, Any] = {}
        if webhook_url is not None:
            body["outboundNotificationWebhookUrl"] = webhook_url
        if webhook_secret is not None:
            body["outboundNotificationWebhookSignatureSecretToken"] = webhook_secret
        if webhook_headers is not None:
            body["webhookHeaders"] = webhook_headers
        if not body:
            raise ValueError("patch_integration needs at least one field to change")
        body["name"] = name
        response = await self.request(
            "PATCH",
            f"{_INTEGRATIONS_PATH}/{_segment(integration_id)}",
            operation="patch integration",
            integration_id=integration_id,
            json=body,
        )
        return _parse(OpenIntegration, response, operation="patch integration")

    # --- what the OAuth client may do and where messages go (connection check) ---------------

    async def get_own_permissions(self) -> AuthzSubject:
        """The client's roles and their policies; documented to need no permission, while
        whether it answers a client-credentials token is UNCONFIRMED (docs/decisions.md)."""
        response = await self.request("GET", _SUBJECTS_ME_PATH, operation="get own permissions")
        return _parse(AuthzSubject, response, operation="get own permissions")

    async def get_message_recipient(self, recipient_id: str) -> MessageRecipient:
        """Needs `routing:message:manage`; `flow` says which inbound message flow routes it."""
        response = await self.request(
            "GET",
            f"{_RECIPIENTS_PATH}/{_segment(recipient_id)}",
            operation="get message recipient",
        )
        return _parse(MessageRecipient, response, operation="get message recipient")
