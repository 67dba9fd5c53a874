-- Throttles and background schedules shared by every instance: before this they lived in each
-- process's memory, so N instances allowed N times every limit.
--
-- The two throttle tables are UNLOGGED: a refused request must cost no WAL flush (a flood is
-- mostly refusals), and what a crash or a failover loses is at most one window of counting.
-- Their keys are keyed hashes (HMAC-SHA-256 with the server's secret) of the client's network
-- or of the normalised email address: the tables never hold an address in the clear.
-- Every time is the database's clock, so the instances' clocks never disagree.

-- Per-client request limits, as GCRA: `theoretical_arrival` is when the client's quota is whole
-- again. A row whose time has passed is the same as no row; the retention sweep deletes those.
CREATE UNLOGGED TABLE rate_limits (
    policy              TEXT NOT NULL,
    client_key          BYTEA NOT NULL,
    theoretical_arrival TIMESTAMPTZ NOT NULL,
    -- Whether the last request counted was allowed (the statement that counts it returns this).
    allowed             BOOLEAN NOT NULL,
    PRIMARY KEY (policy, client_key)
);
CREATE INDEX rate_limits_expiry_idx ON rate_limits (theoretical_arrival);

-- The failed-sign-in back-off per address: counted before the password is checked, so parallel
-- guesses all count; cleared by a success; forgotten at `forget_at` (once idle for the longest
-- lock after its last lock ended).
CREATE UNLOGGED TABLE sign_in_backoff (
    address_key  BYTEA PRIMARY KEY,
    failures     INTEGER NOT NULL,
    locked_until TIMESTAMPTZ NOT NULL,
    forget_at    TIMESTAMPTZ NOT NULL,
    -- Whether the last attempt was refused because the address was locked.
    refused      BOOLEAN NOT NULL
);
CREATE INDEX sign_in_backoff_expiry_idx ON sign_in_backoff (forget_at);

-- Periodic work that must run once per period whichever instance gets there first: an instance
-- claims a run by moving `last_started_at` forward in one conditional UPDATE.
CREATE TABLE background_runs (
    job             TEXT PRIMARY KEY,
    last_started_at TIMESTAMPTZ NOT NULL DEFAULT '-infinity',
    -- How many runs were claimed in all (for monitoring).
    runs            BIGINT NOT NULL DEFAULT 0
);
INSERT INTO background_runs (job) VALUES ('retention-sweep');
