"""Purpose labels bound into each encrypted column's ciphertext (see `app.crypto`).

Changing a label makes existing ciphertexts undecryptable, so these never change.
"""

GENESYS_CLIENT_SECRET = "genesys.client_secret"
GENESYS_WEBHOOK_SECRET = "genesys.webhook_secret"
SLACK_BOT_TOKEN = "slack.bot_token"
SLACK_BOT_REFRESH_TOKEN = "slack.bot_refresh_token"
# Not a ciphertext label: the purpose of the key derived for signing file links
# (`app.bridge.file_links`), so it never equals an encryption key.
FILE_LINK_SIGNING = "web.file_link"
