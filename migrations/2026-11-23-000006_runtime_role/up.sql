-- Two roles. Whoever runs the migrations owns the schema. The running service connects as a
-- member of mynorfolk_runtime, which reads and writes the service's tables but may not change,
-- delete or truncate audit rows, disable triggers or alter the schema (none of which a
-- non-owner, non-superuser role can do). Retention and erasure reach the audit log only through
-- the two narrow functions below, which run with the owner's rights.
--
-- The group role is cluster-wide; a deployment may create it (and its login member) beforehand,
-- which is the only way when the migration role lacks CREATEROLE.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mynorfolk_runtime') THEN
        CREATE ROLE mynorfolk_runtime NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO mynorfolk_runtime;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO mynorfolk_runtime;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO mynorfolk_runtime;
REVOKE UPDATE, DELETE ON audit_events FROM mynorfolk_runtime;
REVOKE ALL ON __diesel_schema_migrations FROM mynorfolk_runtime;
GRANT SELECT ON __diesel_schema_migrations TO mynorfolk_runtime;
-- Tables and sequences of later migrations get the same, unless they say otherwise.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mynorfolk_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO mynorfolk_runtime;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Erasure: the one change the registry makes to a person's audit rows (the free-text reason goes;
-- the pseudonymous ids stay).
CREATE FUNCTION audit_events_erase_subject(person UUID) RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    changed BIGINT;
BEGIN
    PERFORM set_config('mynorfolk.retention', 'on', true);
    UPDATE audit_events SET reason = NULL WHERE subject_id = person AND reason IS NOT NULL;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('mynorfolk.retention', 'off', true);
    RETURN changed;
END;
$$;

-- Retention: deletes up to `batch` rows older than `cutoff`, and never a row younger than six
-- years (the limitation period), whatever the caller asks.
CREATE FUNCTION audit_events_delete_expired(cutoff TIMESTAMPTZ, batch BIGINT) RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    deleted BIGINT;
BEGIN
    IF cutoff > now() - INTERVAL '6 years' THEN
        RAISE EXCEPTION 'audit rows are kept for at least six years (cutoff % refused)', cutoff
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('mynorfolk.retention', 'on', true);
    DELETE FROM audit_events WHERE id IN (
        SELECT id FROM audit_events WHERE occurred_at < cutoff
        ORDER BY id LIMIT batch FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('mynorfolk.retention', 'off', true);
    RETURN deleted;
END;
$$;

REVOKE ALL ON FUNCTION audit_events_erase_subject(UUID) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_events_delete_expired(TIMESTAMPTZ, BIGINT) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_events_erase_subject(UUID) TO mynorfolk_runtime;
GRANT EXECUTE ON FUNCTION audit_events_delete_expired(TIMESTAMPTZ, BIGINT) TO mynorfolk_runtime;
