//! Typed ids (after Lemmy's `newtypes.rs`): an account id cannot be passed where an application
//! id is meant. They are UUIDs in the database and in JSON.

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, DieselNewType, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                $name(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// A resident's or a member of staff's account.
    AccountId
);
id!(
    /// An application for a highway service.
    ApplicationId
);
id!(
    /// A signed-in device.
    SessionId
);
id!(
    /// A request under data-protection law.
    DataRequestId
);
id!(
    /// A document attached to an application.
    AttachmentId
);
