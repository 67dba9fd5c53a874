DROP TRIGGER applications_bump_account_version ON applications;
DROP FUNCTION applications_bump_account_version();
ALTER TABLE accounts DROP COLUMN applications_version;
