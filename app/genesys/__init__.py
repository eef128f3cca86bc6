"""Everything we say to Genesys Cloud: regions and hosts, the per-tenant OAuth client and its
cache, the models of what Genesys answers, and the error tree its HTTP failures become.
Nothing here touches the database or knows about Slack.
"""
