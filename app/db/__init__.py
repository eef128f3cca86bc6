"""Tables, sessions, and the private Postgres used in development and tests."""
