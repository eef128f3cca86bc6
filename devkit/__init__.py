"""Developer tooling, never installed with the product: the `make dev` launcher, the private
Postgres it and the tests start, and the harness the e2e tests and the benchmark share."""
