DROP FUNCTION audit_events_delete_expired(TIMESTAMPTZ, BIGINT);
DROP FUNCTION audit_events_erase_subject(UUID);
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM mynorfolk_runtime;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM mynorfolk_runtime;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM mynorfolk_runtime;
REVOKE USAGE ON SCHEMA public FROM mynorfolk_runtime;
-- The role itself is cluster-wide and may serve other databases: it stays.
