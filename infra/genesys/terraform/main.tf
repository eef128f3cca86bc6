locals {
  webhook_url = "${trimsuffix(var.switchboard_base_url, "/")}/genesys/webhook"

  two_integrations = {
    mentions = "${var.name_prefix} - mentions"
    dms      = "${var.name_prefix} - DMs"
  }

  one_integration = {
    shared = "${var.name_prefix} - mentions and DMs"
  }

  integrations = var.separate_dm_integration ? local.two_integrations : local.one_integration

  webhook_secrets = {
    for key in keys(local.integrations) :
    key => lookup(var.webhook_signature_secrets, key, random_password.webhook_secret[key].result)
  }
}

# Exactly the permissions Switchboard calls the API with (infra/genesys/README.md, step 1).
resource "genesyscloud_auth_role" "switchboard" {
  name        = var.role_name
  description = "Switchboard: Slack to Genesys Cloud Open Messaging bridge"

  permission_policies {
    domain      = "conversation"
    entity_name = "message"
    action_set  = var.allow_conversation_reads ? ["receive", "view"] : ["receive"]
  }

  dynamic "permission_policies" {
    for_each = var.allow_end_chat ? [1] : []
    content {
      domain      = "conversation"
      entity_name = "communication"
      action_set  = ["disconnect"]
    }
  }

  permission_policies {
    domain      = "messaging"
    entity_name = "integration"
    action_set  = var.allow_webhook_wiring ? ["view", "edit"] : ["view"]
  }
}

resource "genesyscloud_oauth_client" "switchboard" {
  name                          = var.oauth_client_name
  description                   = "Switchboard signs in with this client (client credentials)."
  authorized_grant_type         = "CLIENT-CREDENTIALS"
  access_token_validity_seconds = var.token_lifetime_seconds
  expose_client_secret          = var.expose_client_secret

  roles {
    role_id     = genesyscloud_auth_role.switchboard.id
    division_id = var.division_id
  }
}

resource "genesyscloud_conversations_messaging_settings" "switchboard" {
  name = var.messaging_settings_name

  event {
    typing {
      on {
        inbound  = "Enabled"
        outbound = "Enabled"
      }
    }
  }
}

resource "genesyscloud_conversations_messaging_supportedcontent" "switchboard" {
  name = var.supported_content_name

  media_types {
    allow {
      dynamic "inbound" {
        for_each = var.inbound_media_types

        content {
          type = inbound.value
        }
      }

      dynamic "outbound" {
        for_each = var.outbound_media_types

        content {
          type = outbound.value
        }
      }
    }
  }
}

# A placeholder until Switchboard's own secret replaces it (see README, "The webhook secret").
resource "random_password" "webhook_secret" {
  for_each = local.integrations

  length  = 48
  special = false
}

resource "genesyscloud_conversations_messaging_integrations_open" "switchboard" {
  for_each = local.integrations

  name                                                 = each.value
  outbound_notification_webhook_url                    = local.webhook_url
  outbound_notification_webhook_signature_secret_token = local.webhook_secrets[each.key]
  supported_content_id                                 = genesyscloud_conversations_messaging_supportedcontent.switchboard.id
  messaging_setting_id                                 = genesyscloud_conversations_messaging_settings.switchboard.id
}
