-- A counter per account that moves whenever any of its applications changes (inserted, updated,
-- deleted, or handed to another account or to none). A resident's list of applications is served
-- from an instance's memory only while the counter it was rendered at is still the one the
-- database holds: the counter is read live, with the session check, on every request.
-- Counters start anywhere (not at 0), so that one rebuilt or restored never meets a value it
-- had before for the same account.
ALTER TABLE accounts ADD COLUMN applications_version BIGINT NOT NULL
    DEFAULT (random() * 4503599627370496)::bigint;

-- Statement-level, with transition tables: one UPDATE per statement for however many rows it
-- changed (a retention batch, the benchmark seed), in the changing transaction. The accounts are
-- locked in id order, so two statements touching the same accounts (overlapping retention runs)
-- wait for each other rather than deadlock.
CREATE FUNCTION applications_bump_account_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE accounts SET applications_version = applications_version + 1
        WHERE id IN (SELECT id FROM accounts WHERE id IN (SELECT account_id FROM changed_after)
                     ORDER BY id FOR NO KEY UPDATE);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE accounts SET applications_version = applications_version + 1
        WHERE id IN (SELECT id FROM accounts
                     WHERE id IN (SELECT account_id FROM changed_before
                                  UNION SELECT account_id FROM changed_after)
                     ORDER BY id FOR NO KEY UPDATE);
    ELSE
        UPDATE accounts SET applications_version = applications_version + 1
        WHERE id IN (SELECT id FROM accounts WHERE id IN (SELECT account_id FROM changed_before)
                     ORDER BY id FOR NO KEY UPDATE);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER applications_inserted_bump_account_versions AFTER INSERT ON applications
    REFERENCING NEW TABLE AS changed_after
    FOR EACH STATEMENT EXECUTE FUNCTION applications_bump_account_versions();
CREATE TRIGGER applications_updated_bump_account_versions AFTER UPDATE ON applications
    REFERENCING OLD TABLE AS changed_before NEW TABLE AS changed_after
    FOR EACH STATEMENT EXECUTE FUNCTION applications_bump_account_versions();
CREATE TRIGGER applications_deleted_bump_account_versions AFTER DELETE ON applications
    REFERENCING OLD TABLE AS changed_before
    FOR EACH STATEMENT EXECUTE FUNCTION applications_bump_account_versions();
