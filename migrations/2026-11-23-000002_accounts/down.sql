DROP TABLE email_outbox;
DROP TABLE refresh_tokens;
DROP TABLE sessions;
DROP TABLE account_tokens;
DROP TABLE accounts;
