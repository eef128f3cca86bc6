"""Simulated Slack and Genesys Cloud: real HTTP servers for sandbox mode, tests and the benchmark.

Nothing outside `app/sandbox/` and the tests may import from here, except the dev launcher
and the benchmark, which start these servers as separate processes or threads.
"""
