-- Resident and staff accounts, their one-time tokens, sessions, and the email outbox.

CREATE TABLE accounts (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- as the person wrote it (trimmed); the only personal details sign-up collects
    name                 TEXT NOT NULL,
    email                TEXT NOT NULL,
    -- lower-cased, for comparison and uniqueness
    email_normalized     TEXT NOT NULL UNIQUE,
    -- argon2id PHC string; NULL for staff who have not set a password yet
    password_hash        TEXT,
    email_verified_at    TIMESTAMPTZ,
    role                 TEXT NOT NULL DEFAULT 'resident' CHECK (role IN ('resident', 'staff', 'admin')),
    lawful_basis         TEXT NOT NULL DEFAULT 'contract' CHECK (lawful_basis IN ('contract')),
    terms_version        TEXT NOT NULL,
    terms_accepted_at    TIMESTAMPTZ NOT NULL,
    -- preference: email me when one of my applications changes status (opt-in)
    status_update_emails BOOLEAN NOT NULL DEFAULT false,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The retention sweep looks for old unverified accounts.
CREATE INDEX accounts_unverified_created_idx ON accounts (created_at) WHERE email_verified_at IS NULL;

-- Single-use tokens sent by email. Only a SHA-256 of the token is stored.
CREATE TABLE account_tokens (
    token_hash  BYTEA PRIMARY KEY,
    account_id  UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
    -- for change_email: the address that becomes the account's once verified
    new_email   TEXT,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((purpose = 'change_email') = (new_email IS NOT NULL))
);
CREATE INDEX account_tokens_account_idx ON account_tokens (account_id);
CREATE INDEX account_tokens_expires_idx ON account_tokens (expires_at);

-- A signed-in device. Access tokens carry its id (sid); every request checks it is still live.
CREATE TABLE sessions (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id   UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- a short description of the device (from its User-Agent), to recognise it in the list
    device       TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX sessions_account_idx ON sessions (account_id);

-- Opaque refresh tokens, stored hashed. Each is spent on use; presenting a spent one revokes the session.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    spent_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Transactional outbox: written in the same transaction as the change that causes the email, and
-- delivered by a background worker with retries. The body is cleared once sent (it may hold a link
-- with a token); subject and template stay for the person's data export until retention removes them.
CREATE TABLE email_outbox (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id      UUID REFERENCES accounts (id) ON DELETE CASCADE,
    to_address      TEXT NOT NULL,
    template        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ
);
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX email_outbox_account_idx ON email_outbox (account_id);
