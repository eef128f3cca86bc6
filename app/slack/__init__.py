"""Everything Slack: the Bolt app, its installation store, listeners, and posting replies."""
