-- Documents: files attached to applications, kept in storage (a local folder or S3-compatible
-- object storage) with one row each here, and the storage keys of files to remove.

CREATE TABLE attachments (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- removed with its application (the row's file goes too: see the trigger below)
    application_id UUID NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('insurance_certificate', 'site_plan',
                                                 'waste_carrier_licence', 'traffic_management_plan')),
    -- the uploader's name for the file, sanitised, with the extension of its real type
    filename       TEXT NOT NULL,
    -- judged from the content, never from the name or the uploader's claim
    content_type   TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size_bytes     BIGINT NOT NULL CHECK (size_bytes > 0),
    -- hex SHA-256 of the bytes stored
    sha256         TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_key    TEXT NOT NULL UNIQUE,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX attachments_application_idx ON attachments (application_id, created_at);

-- Files to remove from storage: a file being uploaded (until its row is written: if the upload
-- fails or the process dies, the sweep removes what was stored), and the file of every deleted
-- attachment row (queued by the trigger, in the deleting transaction). Worked by every instance
-- with SKIP LOCKED once due.
CREATE TABLE storage_cleanup (
    storage_key TEXT PRIMARY KEY,
    due_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX storage_cleanup_due_idx ON storage_cleanup (due_at);

-- Whatever deletes an attachment row (the resident, erasure, retention, a cascade), its file is
-- queued for removal in the same transaction: a deleted row's file cannot be forgotten.
CREATE FUNCTION attachments_queue_file_removal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO storage_cleanup (storage_key, due_at) VALUES (OLD.storage_key, now())
        ON CONFLICT (storage_key) DO UPDATE SET due_at = now();
    RETURN OLD;
END $$;
CREATE TRIGGER attachments_queue_file_removal AFTER DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION attachments_queue_file_removal();
