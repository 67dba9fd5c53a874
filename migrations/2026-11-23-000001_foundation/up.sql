-- Foundation: the append-only audit log every later feature writes to.
--
-- Ids of people are plain UUIDs without foreign keys on purpose: after an erasure the rows stay,
-- holding only pseudonymous ids, and the account they pointed at may be gone.
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- who acted: an account id, or NULL for the system itself (sweeps, workers)
    actor_id    UUID,
    actor_role  TEXT NOT NULL CHECK (actor_role IN ('resident', 'staff', 'admin', 'system')),
    -- what happened, as a dotted verb: 'account.created', 'application.viewed', ...
    action      TEXT NOT NULL CHECK (action ~ '^[a-z_]+(\.[a-z_]+)+$'),
    target_type TEXT NOT NULL,
    target_id   UUID,
    -- whose personal data the event touched, when it touched someone's
    subject_id  UUID,
    -- why (staff look-ups and decisions must say); never personal data
    reason      TEXT,
    request_id  TEXT
);

CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, occurred_at) WHERE subject_id IS NOT NULL;
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, occurred_at) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

-- Append-only: UPDATE and DELETE are refused unless the transaction has declared itself the
-- retention sweep (SET LOCAL mynorfolk.retention = 'on'), and TRUNCATE always is.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR coalesce(current_setting('mynorfolk.retention', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;

CREATE TRIGGER audit_events_append_only_rows
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
