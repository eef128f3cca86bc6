"""The benchmark and fault harness behind `python -m bench` (`make bench`).

It starts a throwaway Postgres, the app's real web and worker processes, and the Slack and
Genesys simulators, drives them with an open-loop load generator, injects faults, and checks
after every drain that nothing was lost, duplicated or reordered. It is not installed with the
product and never runs in production.
"""
