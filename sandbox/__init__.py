"""Simulated Slack and Genesys Cloud: real HTTP servers for `make dev`, the tests and the bench.

A leaf: it imports nothing from `app`, and the product never imports it. What it needs of
either service (signatures, seed data, the manifest's scopes) it holds or reads on its own.
"""
