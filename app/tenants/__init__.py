"""Tenants: installs, their credentials, and what happens when a workspace leaves."""
