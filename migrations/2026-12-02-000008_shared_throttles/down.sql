DROP TABLE background_runs;
DROP TABLE sign_in_backoff;
DROP TABLE rate_limits;
