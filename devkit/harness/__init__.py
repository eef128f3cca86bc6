"""One harness for the e2e tests and the benchmark: the app as real processes, the settings that
point it at the simulators, two tenants onboarded as their admins would, and the check that
nothing was lost, duplicated or reordered."""
