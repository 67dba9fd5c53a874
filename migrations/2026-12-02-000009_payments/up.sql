-- Fees paid online through a payment provider (GOV.UK Pay, or the built-in simulator for
-- development), and refunds. Payments and refunds are financial records: kept (anonymised on
-- erasure) for as long as their application.

-- The application's payment, kept in step with its payments and refunds by the use cases (in the
-- same transaction), so that lists and the staff queue read it without a join. Applications from
-- before online payments were paid offline: they start as not_required. New rows always say.
ALTER TABLE applications ADD COLUMN payment_status TEXT NOT NULL DEFAULT 'not_required'
    CHECK (payment_status IN ('not_required', 'due', 'pending', 'paid', 'refunded', 'partially_refunded'));
ALTER TABLE applications ALTER COLUMN payment_status DROP DEFAULT;

CREATE TABLE payments (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- no cascade: a financial record outlives nothing it belongs to
    application_id      UUID NOT NULL REFERENCES applications (id),
    -- NULL once the payer's account is erased
    account_id          UUID REFERENCES accounts (id) ON DELETE SET NULL,
    provider            TEXT NOT NULL CHECK (provider IN ('govuk_pay', 'simulated')),
    provider_payment_id TEXT NOT NULL,
    amount_pence        INT NOT NULL CHECK (amount_pence > 0),
    -- GOV.UK Pay's state.status
    state               TEXT NOT NULL CHECK (state IN ('created', 'started', 'submitted', 'capturable',
                                                       'success', 'failed', 'cancelled', 'error')),
    -- where the payer pays (the provider's page), while the payment is in progress
    next_url            TEXT,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at         TIMESTAMPTZ,
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX payments_application_idx ON payments (application_id, created_at);
CREATE INDEX payments_account_idx ON payments (account_id);
-- One payment in progress per application: a second start waits for the first to finish.
CREATE UNIQUE INDEX payments_one_in_progress_idx ON payments (application_id)
    WHERE state IN ('created', 'started', 'submitted', 'capturable');

CREATE TABLE refunds (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    payment_id         UUID NOT NULL REFERENCES payments (id),
    -- set once the provider has taken the refund
    provider_refund_id TEXT,
    amount_pence       INT NOT NULL CHECK (amount_pence > 0),
    reason             TEXT NOT NULL,
    -- requested: owed, not yet taken by the provider (retried until it is)
    status             TEXT NOT NULL CHECK (status IN ('requested', 'submitted', 'success', 'failed')),
    -- the member of staff; NULL for the service itself (a withdrawal before review)
    requested_by       UUID REFERENCES accounts (id) ON DELETE SET NULL,
    requested_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refunds_payment_idx ON refunds (payment_id);
CREATE INDEX refunds_owed_idx ON refunds (requested_at) WHERE status = 'requested';

-- The built-in simulated provider's own records (development and tests only: production refuses
-- the simulator). Shared by every instance, as the real provider's would be.
CREATE TABLE simulated_payments (
    id              TEXT PRIMARY KEY,
    amount          INT NOT NULL,
    reference       TEXT NOT NULL,
    description     TEXT NOT NULL,
    return_url      TEXT NOT NULL,
    state           TEXT NOT NULL,
    refunded        INT NOT NULL DEFAULT 0,
    idempotency_key TEXT UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
