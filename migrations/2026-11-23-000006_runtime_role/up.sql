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
-- Identity columns need no rights on their sequences; the reference counter needs nextval only
-- (not setval, which could wedge every insert).
GRANT USAGE ON SEQUENCE application_number_seq TO mynorfolk_runtime;
REVOKE UPDATE, DELETE ON audit_events FROM mynorfolk_runtime;
REVOKE ALL ON __diesel_schema_migrations FROM mynorfolk_runtime;
GRANT SELECT ON __diesel_schema_migrations TO mynorfolk_runtime;
-- Tables of later migrations get the same, unless they say otherwise; their functions are
-- executable by no one until granted.
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO mynorfolk_runtime;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- Both functions run with the owner's rights, so they trust nothing the caller controls: the
-- search path puts pg_temp last (a caller's temporary table named audit_events is never
-- found first) and every name is schema-qualified.

-- Erasure: the one change the registry makes to a person's audit rows (the free-text reason goes;
-- the pseudonymous ids stay), and only for a person whose account has been erased already.
CREATE FUNCTION audit_events_erase_subject(person UUID) RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    changed BIGINT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM public.accounts WHERE id = person AND erased_at IS NOT NULL) THEN
        RAISE EXCEPTION 'only an erased account''s audit reasons may be removed'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('mynorfolk.retention', 'on', true);
    UPDATE public.audit_events SET reason = NULL WHERE subject_id = person AND reason IS NOT NULL;
    GET DIAGNOSTICS changed = ROW_COUNT;
    PERFORM set_config('mynorfolk.retention', 'off', true);
    RETURN changed;
END;
$$;

-- Retention: deletes up to `batch` rows older than `cutoff`, and never a row younger than six
-- years (the limitation period), whatever the caller asks.
CREATE FUNCTION audit_events_delete_expired(cutoff TIMESTAMPTZ, batch BIGINT) RETURNS BIGINT
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    deleted BIGINT;
BEGIN
    IF cutoff > now() - INTERVAL '6 years' THEN
        RAISE EXCEPTION 'audit rows are kept for at least six years (cutoff % refused)', cutoff
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('mynorfolk.retention', 'on', true);
    DELETE FROM public.audit_events WHERE id IN (
        SELECT id FROM public.audit_events WHERE occurred_at < cutoff
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
