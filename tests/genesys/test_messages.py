from __future__ import annotations

from app.genesys.messages import InboundAccepted, OpenIntegration, ReceiptResult


def test_integration_ignores_unknown_fields_and_the_secret() -> None:
    integration = OpenIntegration.model_validate(
        {
            "id": "i-1",
            "name": "Slack",
            "createStatus": "Error",
            "createError": {"code": "integration.provisioning.failed", "status": 500},
            "outboundNotificationWebhookSignatureSecretToken": "whsec-0123456789abcdef",
            "someFieldGenesysAddsLater": {"x": 1},
        }
    )
    assert integration.create_error is not None
    assert integration.create_error.code == "integration.provisioning.failed"
    assert not integration.is_provisioned and not integration.has_recipient
    assert integration.webhook_headers == {}
    assert "whsec" not in integration.model_dump_json()


def test_inbound_accepted_reads_genesys_names() -> None:
    accepted = InboundAccepted.model_validate(
        {"id": "abc", "conversationId": "c-1", "type": "Text"}
    )
    assert (accepted.genesys_message_id, accepted.genesys_conversation_id) == ("abc", "c-1")


def test_receipt_result_failed() -> None:
    result = ReceiptResult.model_validate(
        {"id": "m", "status": "Failed", "reasons": [{"code": "GeneralError"}]}
    )
    assert result.failed and result.reasons[0].message is None
    assert not ReceiptResult.model_validate({"status": "Delivered"}).failed
