variable "switchboard_base_url" {
  description = "Public HTTPS URL of the Switchboard web app (its BASE_URL), e.g. https://switchboard.example.com. The webhook URL is this plus /genesys/webhook."
  type        = string

  validation {
    condition     = can(regex("^https://[^/:]+(/.*)?$", var.switchboard_base_url))
    error_message = "Genesys only calls webhooks over HTTPS on port 443: use https:// and no port."
  }
}

variable "separate_dm_integration" {
  description = "true: one Open Messaging integration for channel mentions and another for DMs. false: one integration for both."
  type        = bool
  default     = true
}

variable "name_prefix" {
  description = "Start of the integration names; agents see these names."
  type        = string
  default     = "Slack"
}

variable "role_name" {
  description = "Name of the role that holds Switchboard's permissions."
  type        = string
  default     = "Switchboard Open Messaging"
}

variable "allow_webhook_wiring" {
  description = "Add messaging:integration:edit to the role, so Switchboard can set each integration's webhook URL and secret itself."
  type        = bool
  default     = true
}

variable "allow_conversation_reads" {
  description = "Add conversation:message:view to the role, so Switchboard can post replies under the agent's name and tell Slack when support closes a conversation."
  type        = bool
  default     = true
}

variable "allow_end_chat" {
  description = "Add conversation:communication:disconnect to the role, so people can end a chat from Slack with the End chat button."
  type        = bool
  default     = true
}

variable "oauth_client_name" {
  description = "Name of the OAuth client Switchboard signs in with."
  type        = string
  default     = "Switchboard"
}

variable "token_lifetime_seconds" {
  description = "Lifetime of the access tokens the OAuth client issues."
  type        = number
  default     = 86400

  validation {
    condition     = var.token_lifetime_seconds >= 300 && var.token_lifetime_seconds <= 172800
    error_message = "Genesys accepts token lifetimes from 300 to 172800 seconds."
  }
}

variable "division_id" {
  description = "Division of the role grant on the OAuth client. null means the home division; \"*\" means all divisions."
  type        = string
  default     = null
}

variable "expose_client_secret" {
  description = "Read the OAuth client secret into Terraform state and the sensitive client_secret output. Off: copy it from Admin > Integrations > OAuth instead."
  type        = bool
  default     = false
}

variable "messaging_settings_name" {
  description = "Name of the messaging settings (platform configuration) profile."
  type        = string
  default     = "Switchboard"
}

variable "supported_content_name" {
  description = "Name of the supported content profile."
  type        = string
  default     = "Switchboard"
}

variable "inbound_media_types" {
  description = "Media types customers may send (RFC 2046, wildcards such as image/* allowed). Switchboard does not pass Slack files to Genesys yet, so this has no effect today."
  type        = list(string)
  default     = ["image/*", "application/pdf", "text/plain"]
}

variable "outbound_media_types" {
  description = "Media types agents may send. Genesys refuses to send an agent message whose attachment is not listed."
  type        = list(string)
  default     = ["image/jpeg", "image/png", "image/gif", "application/pdf"]
}

variable "webhook_signature_secrets" {
  description = "Webhook signing secrets by integration key (mentions and dms, or shared), as Switchboard shows them when it is set to manual wiring. Keys left out get a random placeholder."
  type        = map(string)
  default     = {}
  sensitive   = true

  validation {
    condition     = alltrue([for key in keys(var.webhook_signature_secrets) : contains(["mentions", "dms", "shared"], key)])
    error_message = "Keys must be mentions, dms or shared."
  }

  validation {
    condition     = alltrue([for secret in values(var.webhook_signature_secrets) : length(secret) > 15])
    error_message = "Genesys requires each secret to be longer than 15 characters."
  }
}
