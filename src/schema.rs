// @generated automatically by Diesel CLI.

diesel::table! {
    account_tokens (token_hash) {
        token_hash -> Bytea,
        account_id -> Uuid,
        purpose -> Text,
        new_email -> Nullable<Text>,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    accounts (id) {
        id -> Uuid,
        name -> Text,
        email -> Text,
        email_normalized -> Text,
        password_hash -> Nullable<Text>,
        email_verified_at -> Nullable<Timestamptz>,
        role -> Text,
        lawful_basis -> Text,
        terms_version -> Text,
        terms_accepted_at -> Timestamptz,
        status_update_emails -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        erased_at -> Nullable<Timestamptz>,
        applications_version -> Int8,
    }
}

diesel::table! {
    application_events (id) {
        id -> Int8,
        application_id -> Uuid,
        from_status -> Nullable<Text>,
        to_status -> Text,
        actor_role -> Text,
        actor_id -> Nullable<Uuid>,
        public_note -> Nullable<Text>,
        internal_note -> Nullable<Text>,
        occurred_at -> Timestamptz,
    }
}

diesel::table! {
    applications (id) {
        id -> Uuid,
        reference -> Text,
        account_id -> Nullable<Uuid>,
        service_code -> Text,
        status -> Text,
        details -> Jsonb,
        fee_pence -> Int4,
        assigned_to -> Nullable<Uuid>,
        submitted_at -> Timestamptz,
        updated_at -> Timestamptz,
        expected_decision_by -> Date,
        decided_at -> Nullable<Timestamptz>,
        issued_at -> Nullable<Timestamptz>,
        licence_expires_on -> Nullable<Date>,
        closed_at -> Nullable<Timestamptz>,
        payment_status -> Text,
    }
}

diesel::table! {
    attachments (id) {
        id -> Uuid,
        application_id -> Uuid,
        kind -> Text,
        filename -> Text,
        content_type -> Text,
        size_bytes -> Int8,
        sha256 -> Text,
        storage_key -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Int8,
        occurred_at -> Timestamptz,
        actor_id -> Nullable<Uuid>,
        actor_role -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Nullable<Uuid>,
        subject_id -> Nullable<Uuid>,
        reason -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    background_runs (job) {
        job -> Text,
        last_started_at -> Timestamptz,
        runs -> Int8,
    }
}

diesel::table! {
    data_requests (id) {
        id -> Uuid,
        account_id -> Uuid,
        kind -> Text,
        details -> Nullable<Text>,
        status -> Text,
        received_at -> Timestamptz,
        original_due_by -> Date,
        due_by -> Date,
        extension_reason -> Nullable<Text>,
        decision_reason -> Nullable<Text>,
        decided_by -> Nullable<Uuid>,
        decided_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Uuid,
        account_id -> Nullable<Uuid>,
        to_address -> Text,
        template -> Text,
        subject -> Text,
        body_text -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        delete_after_send -> Bool,
    }
}

diesel::table! {
    idempotency_keys (account_id, key) {
        account_id -> Uuid,
        key -> Text,
        request_hash -> Bytea,
        response_status -> Int4,
        response_body -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    password_reset_requests (id) {
        id -> Int8,
        email_normalized -> Text,
        requested_at -> Timestamptz,
    }
}

diesel::table! {
    rate_limits (policy, client_key) {
        policy -> Text,
        client_key -> Bytea,
        theoretical_arrival -> Timestamptz,
        allowed -> Bool,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        created_at -> Timestamptz,
        spent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sign_in_backoff (address_key) {
        address_key -> Bytea,
        failures -> Int4,
        locked_until -> Timestamptz,
        forget_at -> Timestamptz,
        refused -> Bool,
    }
}

diesel::table! {
    services (code) {
        code -> Text,
        reference_prefix -> Text,
        name -> Text,
        description -> Text,
        audience -> Text,
        fee_pence -> Int4,
        target_decision_days -> Int4,
        licence_validity_months -> Nullable<Int4>,
        legal_basis -> Text,
        active -> Bool,
    }
}

diesel::table! {
    payments (id) {
        id -> Uuid,
        application_id -> Uuid,
        account_id -> Nullable<Uuid>,
        provider -> Text,
        provider_payment_id -> Text,
        amount_pence -> Int4,
        state -> Text,
        next_url -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    refunds (id) {
        id -> Uuid,
        payment_id -> Uuid,
        provider_refund_id -> Nullable<Text>,
        amount_pence -> Int4,
        reason -> Text,
        status -> Text,
        requested_by -> Nullable<Uuid>,
        requested_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    simulated_payments (id) {
        id -> Text,
        amount -> Int4,
        reference -> Text,
        description -> Text,
        return_url -> Text,
        state -> Text,
        refunded -> Int4,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        account_id -> Uuid,
        device -> Text,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    storage_cleanup (storage_key) {
        storage_key -> Text,
        due_at -> Timestamptz,
    }
}

diesel::joinable!(account_tokens -> accounts (account_id));
diesel::joinable!(application_events -> applications (application_id));
diesel::joinable!(attachments -> applications (application_id));
diesel::joinable!(applications -> services (service_code));
diesel::joinable!(data_requests -> accounts (account_id));
diesel::joinable!(email_outbox -> accounts (account_id));
diesel::joinable!(idempotency_keys -> accounts (account_id));
diesel::joinable!(payments -> applications (application_id));
diesel::joinable!(refunds -> payments (payment_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_tokens,
    accounts,
    application_events,
    applications,
    attachments,
    audit_events,
    background_runs,
    data_requests,
    email_outbox,
    idempotency_keys,
    password_reset_requests,
    payments,
    rate_limits,
    refresh_tokens,
    refunds,
    services,
    sessions,
    simulated_payments,
    sign_in_backoff,
    storage_cleanup,
);
