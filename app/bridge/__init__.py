"""The bridge: how a Slack message becomes a Genesys Open Messaging message, and back.

`routing`, `inbound`, `outbound` and `rendering` are pure translations with no I/O, so every
rule about message shapes is tested without the network or the database.
"""
