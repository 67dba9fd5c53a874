-- Data-subject rights: requests and their deadlines, erasure markers, and ephemeral emails.

ALTER TABLE accounts ADD COLUMN erased_at TIMESTAMPTZ;

-- Emails about an erased person are deleted as soon as they are sent, leaving no address behind.
ALTER TABLE email_outbox ADD COLUMN delete_after_send BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE data_requests (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id       UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('access', 'erasure', 'rectification')),
    -- what the resident wrote, if anything
    details          TEXT,
    status           TEXT NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'extended', 'completed', 'refused')),
    received_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- one calendar month from receipt, moved to the next working day
    original_due_by  DATE NOT NULL,
    due_by           DATE NOT NULL,
    extension_reason TEXT,
    -- why a request was refused, or what an erasure kept and why (Article 17(3))
    decision_reason  TEXT,
    decided_by       UUID,
    decided_at       TIMESTAMPTZ
);
CREATE INDEX data_requests_open_idx ON data_requests (due_by) WHERE status IN ('received', 'extended');
CREATE INDEX data_requests_account_idx ON data_requests (account_id, received_at DESC);
CREATE INDEX data_requests_queue_idx ON data_requests (received_at DESC, id DESC);
