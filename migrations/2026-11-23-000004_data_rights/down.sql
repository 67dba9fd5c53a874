DROP TABLE data_requests;
ALTER TABLE email_outbox DROP COLUMN delete_after_send;
ALTER TABLE accounts DROP COLUMN erased_at;
