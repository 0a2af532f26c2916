//! The two compatibility faces: the routes, shapes, status codes and strings of the seed
//! services, served from the same users and messages as `/v1`.

pub mod chat_service;
pub mod fastapi;
pub mod message_service;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Both faces' routes, answering as FastAPI would where a client can tell.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(message_service::routes())
        .merge(chat_service::routes())
        .layer(axum::middleware::from_fn(fastapi::face))
}

use serde::de::{Deserialize, Deserializer, Error, Unexpected, Visitor};

/// A user id as the Chat Service declared it: an integer, also read from a string holding one
/// (as pydantic reads an `int`). `None` is a string that is no integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntId(pub Option<i64>);

/// A user id as the Message Service declared it: a string (its ids were strings), also read
/// from a JSON integer. `None` is a string that is no id of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrId(pub Option<i64>);

impl<'de> Deserialize<'de> for IntId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(IdVisitor("an integer"))
            .map(Self)
    }
}

impl<'de> Deserialize<'de> for StrId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(IdVisitor("a string"))
            .map(Self)
    }
}

/// Reads an integer or a string holding one; `expecting` names the type the seed declared,
/// so that anything else is refused as a value of that type.
struct IdVisitor(&'static str);

impl Visitor<'_> for IdVisitor {
    type Value = Option<i64>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str(self.0)
    }

    fn visit_i64<E: Error>(self, id: i64) -> Result<Self::Value, E> {
        Ok(Some(id))
    }

    fn visit_u64<E: Error>(self, id: u64) -> Result<Self::Value, E> {
        i64::try_from(id)
            .map(Some)
            .map_err(|_| E::invalid_value(Unexpected::Unsigned(id), &self))
    }

    fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(text.trim().parse().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_integers_and_numeric_strings() {
        let read = |json: &str| serde_json::from_str::<IntId>(json).map_err(|e| e.to_string());
        assert_eq!(read("12"), Ok(IntId(Some(12))));
        assert_eq!(read("\"12\""), Ok(IntId(Some(12))));
        assert_eq!(read("\"a1b2c3\""), Ok(IntId(None)));
        assert!(read("true").unwrap_err().contains("expected an integer"));
        assert!(read("18446744073709551615").is_err());
        let text = serde_json::from_str::<StrId>("1.5")
            .unwrap_err()
            .to_string();
        assert!(text.contains("expected a string"), "{text}");
    }
}
