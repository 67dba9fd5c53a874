-- Password-reset requests waiting to become emails. The request is answered only once its row is
-- committed (a crash loses none), and every address costs the same single insert (the answer's
-- timing says nothing about whether it has an account). A worker turns each row into a reset
-- email, or into nothing, and deletes it within seconds.
CREATE TABLE password_reset_requests (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_normalized TEXT NOT NULL,
    requested_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
