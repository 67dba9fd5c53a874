-- Run once by a database administrator on a new server (docker-compose mounts it as an init
-- script). The schema owner (here the POSTGRES_USER, `mynorfolk`) runs the migrations through
-- DATABASE_MIGRATION_URL; the service connects as `mynorfolk_app` through DATABASE_URL. That role
-- is a member of `mynorfolk_runtime`, to which the migrations grant what the service needs and
-- nothing that could rewrite the audit log. Change the password before using this anywhere real.
CREATE ROLE mynorfolk_runtime NOLOGIN;
CREATE ROLE mynorfolk_app LOGIN PASSWORD 'mynorfolk_app' IN ROLE mynorfolk_runtime;
