"""Switchboard: Slack mentions and DMs bridged to Genesys Cloud Open Messaging, per tenant."""
