-- Webhook retention (modules/webhooks/retention.ts): the maintenance role finds which tenants have
-- messages past OCSUITE_WEBHOOK_RETENTION_DAYS; each tenant's rows are then deleted in that tenant's
-- own transaction. It reads, never deletes, a live tenant's rows.
CREATE POLICY webhook_messages_retention ON webhook_messages FOR SELECT TO ocsuite_maintenance USING (true);

-- Data-subject erasure (modules/webhooks/subject.ts) unlinks the person who created an endpoint or a receiver.
GRANT UPDATE (created_by) ON webhook_endpoints, webhook_receivers TO ocsuite_runtime;
