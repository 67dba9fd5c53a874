-- A counter per account that moves whenever any of its applications changes (inserted, updated,
-- deleted, or handed to another account or to none). A resident's list of applications is served
-- from an instance's memory only while the counter it was rendered at is still the one the
-- database holds: the counter is read live, with the session check, on every request.
ALTER TABLE accounts ADD COLUMN applications_version BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION applications_bump_account_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.account_id IS NOT NULL THEN
        UPDATE accounts SET applications_version = applications_version + 1 WHERE id = OLD.account_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.account_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.account_id IS DISTINCT FROM OLD.account_id) THEN
        UPDATE accounts SET applications_version = applications_version + 1 WHERE id = NEW.account_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER applications_bump_account_version AFTER INSERT OR UPDATE OR DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_bump_account_version();
