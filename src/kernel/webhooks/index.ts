// Signed outbound webhooks (Standard Webhooks) and their verification.
export {
  DEFAULT_TOLERANCE_SECONDS,
  WEBHOOK_SECRET_PREFIX,
  WebhookError,
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookKey,
  type VerifyWebhookOptions,
  type WebhookErrorCode,
  type WebhookHeaders,
} from './standard-webhooks.ts';
export { webhookEventCatalogue, WebhookCatalogError, type WebhookEventType } from './event-types.ts';
