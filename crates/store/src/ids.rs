//! Typed ids: a user's id cannot be passed where a session's is expected, and a store method
//! taking two ids cannot have them swapped without the compiler noticing.

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, sqlx::Type,
            serde::Serialize, serde::Deserialize,
        )]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The number itself, for answers and keys.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// A user.
    UserId
);
id_type!(
    /// A conversation.
    ConversationId
);
id_type!(
    /// A message (global, not its `seq` in a conversation).
    MessageId
);
id_type!(
    /// A login session.
    SessionId
);
