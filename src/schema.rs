// @generated automatically by Diesel CLI.

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
