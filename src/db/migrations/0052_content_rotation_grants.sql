-- Key rotation re-seals every registered sealed column as the maintenance role, across tenants
-- (kernel/crypto sealed-column pass): the content and approvals modules' sealed columns get the
-- read and swap the other modules' sealed columns have (see 0030 for webhooks). The erasure policy
-- of 0016 only shows deleted tenants' rows, so without these the pass would find nothing to re-seal.
CREATE POLICY content_providers_rotation_read ON content_providers FOR SELECT TO ocsuite_maintenance USING (true);
CREATE POLICY content_providers_rotation ON content_providers FOR UPDATE TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT UPDATE (key_sealed) ON content_providers TO ocsuite_maintenance;

CREATE POLICY content_drafts_rotation_read ON content_drafts FOR SELECT TO ocsuite_maintenance USING (true);
CREATE POLICY content_drafts_rotation ON content_drafts FOR UPDATE TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT UPDATE (prompt_sealed, output_sealed) ON content_drafts TO ocsuite_maintenance;

CREATE POLICY insights_rotation_read ON insights FOR SELECT TO ocsuite_maintenance USING (true);
CREATE POLICY insights_rotation ON insights FOR UPDATE TO ocsuite_maintenance USING (true) WITH CHECK (true);
GRANT UPDATE (output_sealed) ON insights TO ocsuite_maintenance;
