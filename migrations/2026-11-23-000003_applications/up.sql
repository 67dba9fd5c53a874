-- The service catalogue (data, changeable without a deploy), applications, their status history,
-- and idempotency keys for retried submissions.

CREATE TABLE services (
    code                   TEXT PRIMARY KEY,
    -- first part of human references: SKP-2026-000042
    reference_prefix       TEXT NOT NULL UNIQUE CHECK (reference_prefix ~ '^[A-Z]{3}$'),
    name                   TEXT NOT NULL,
    description            TEXT NOT NULL,
    audience               TEXT NOT NULL CHECK (audience IN ('residents', 'businesses', 'residents_and_businesses')),
    fee_pence              INT NOT NULL CHECK (fee_pence >= 0),
    -- calendar days from submission to the expected decision
    target_decision_days   INT NOT NULL CHECK (target_decision_days > 0),
    -- licences that run for a fixed time from issue (NULL: for the period applied for, or permanent)
    licence_validity_months INT CHECK (licence_validity_months > 0),
    legal_basis            TEXT NOT NULL,
    active                 BOOLEAN NOT NULL DEFAULT true
);

INSERT INTO services (code, reference_prefix, name, description, audience, fee_pence, target_decision_days, licence_validity_months, legal_basis) VALUES
    ('skip-permit', 'SKP', 'Skip permit',
     'Permission to place a builder''s skip on the highway (road, parking bay, footway or verge).',
     'residents_and_businesses', 4500, 5, NULL, 'Highways Act 1980 s.139'),
    ('scaffold-licence', 'SCF', 'Scaffolding or hoarding licence',
     'A licence to put up scaffolding or a hoarding on the highway.',
     'residents_and_businesses', 12000, 10, NULL, 'Highways Act 1980 s.169 and s.172'),
    ('vehicle-crossing', 'VXC', 'Vehicle crossing (dropped kerb)',
     'Permission to build a vehicle crossing so that vehicles can cross the footway to your property.',
     'residents', 15000, 28, NULL, 'Highways Act 1980 s.184'),
    ('ev-cable-channel', 'EVC', 'EV charging-cable channel',
     'A licence for a business to install a channel carrying an electric-vehicle charging cable across the footway.',
     'businesses', 25000, 20, 24, 'Highways Act 1980 s.50 (New Roads and Street Works Act 1991)');

-- One sequence for every service: numbers are unique and increase; gaps (rolled-back submissions) are fine.
CREATE SEQUENCE application_number_seq;

CREATE TABLE applications (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    reference            TEXT NOT NULL UNIQUE,
    -- NULL once the applicant's account is erased and the record is kept anonymised
    account_id           UUID REFERENCES accounts (id) ON DELETE SET NULL,
    service_code         TEXT NOT NULL REFERENCES services (code),
    status               TEXT NOT NULL CHECK (status IN ('submitted', 'under_review', 'more_information_required',
                                                         'approved', 'rejected', 'issued', 'closed', 'withdrawn')),
    -- the service's typed details, validated by the service's Rust type before they are stored
    details              JSONB NOT NULL,
    fee_pence            INT NOT NULL,
    assigned_to          UUID REFERENCES accounts (id) ON DELETE SET NULL,
    submitted_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    expected_decision_by DATE NOT NULL,
    decided_at           TIMESTAMPTZ,
    issued_at            TIMESTAMPTZ,
    licence_expires_on   DATE,
    closed_at            TIMESTAMPTZ
);

-- Keyset pagination, newest first, for the resident's list and each staff-queue filter.
CREATE INDEX applications_account_idx ON applications (account_id, submitted_at DESC, id DESC);
CREATE INDEX applications_queue_idx ON applications (submitted_at DESC, id DESC);
CREATE INDEX applications_status_idx ON applications (status, submitted_at DESC, id DESC);
CREATE INDEX applications_service_idx ON applications (service_code, submitted_at DESC, id DESC);
CREATE INDEX applications_assigned_idx ON applications (assigned_to, submitted_at DESC, id DESC) WHERE assigned_to IS NOT NULL;
-- Reference search by prefix ("SKP-2026-0000"); references are upper case.
CREATE INDEX applications_reference_prefix_idx ON applications (reference text_pattern_ops);

CREATE TABLE application_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    application_id UUID NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    from_status    TEXT,
    to_status      TEXT NOT NULL,
    actor_role     TEXT NOT NULL CHECK (actor_role IN ('resident', 'staff', 'admin', 'system')),
    actor_id       UUID,
    -- shown to the applicant
    public_note    TEXT,
    -- staff only
    internal_note  TEXT,
    occurred_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX application_events_application_idx ON application_events (application_id, id);

-- A retried POST with the same key returns the first response and creates nothing new.
CREATE TABLE idempotency_keys (
    account_id      UUID NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    request_hash    BYTEA NOT NULL,
    response_status INT NOT NULL,
    response_body   JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
