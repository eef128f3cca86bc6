output "oauth_client_id" {
  description = "OAuth client ID to enter in Switchboard."
  value       = genesyscloud_oauth_client.switchboard.id
}

output "oauth_client_secret" {
  description = "OAuth client secret to enter in Switchboard; empty unless expose_client_secret is true."
  value       = genesyscloud_oauth_client.switchboard.client_secret
  sensitive   = true
}

output "role_id" {
  description = "ID of the role holding Switchboard's permissions."
  value       = genesyscloud_auth_role.switchboard.id
}

output "messaging_setting_id" {
  description = "ID of the messaging settings profile with typing enabled."
  value       = genesyscloud_conversations_messaging_settings.switchboard.id
}

output "supported_content_id" {
  description = "ID of the supported content profile."
  value       = genesyscloud_conversations_messaging_supportedcontent.switchboard.id
}

output "integration_ids" {
  description = "Open Messaging integration IDs by key (mentions and dms, or shared)."
  value       = { for key, integration in genesyscloud_conversations_messaging_integrations_open.switchboard : key => integration.id }
}

output "mentions_integration_id" {
  description = "Integration to choose for channel mentions in Switchboard."
  value       = genesyscloud_conversations_messaging_integrations_open.switchboard[var.separate_dm_integration ? "mentions" : "shared"].id
}

output "dms_integration_id" {
  description = "Integration to choose for direct messages in Switchboard."
  value       = genesyscloud_conversations_messaging_integrations_open.switchboard[var.separate_dm_integration ? "dms" : "shared"].id
}

output "webhook_url" {
  description = "The Outbound Notification Webhook URL set on every integration."
  value       = local.webhook_url
}

output "webhook_signature_secrets" {
  description = "The webhook secrets Terraform last set, by integration key."
  value       = local.webhook_secrets
  sensitive   = true
}
