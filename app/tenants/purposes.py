"""Purpose labels bound into each encrypted column's ciphertext (see `app.crypto`).

Changing a label makes existing ciphertexts undecryptable, so these never change.
"""

GENESYS_CLIENT_SECRET = "genesys.client_secret"
GENESYS_WEBHOOK_SECRET = "genesys.webhook_secret"
SLACK_BOT_TOKEN = "slack.bot_token"
SLACK_BOT_REFRESH_TOKEN = "slack.bot_refresh_token"
