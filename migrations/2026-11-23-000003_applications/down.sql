DROP TABLE idempotency_keys;
DROP TABLE application_events;
DROP TABLE applications;
DROP SEQUENCE application_number_seq;
DROP TABLE services;
