//! The two compatibility faces: the routes, shapes, status codes and strings of the seed
//! services, served from the same users and messages as `/v1`.

pub mod chat_service;
pub mod message_service;

use serde::{Deserialize, Deserializer};

/// A user id as the seed clients send it: a JSON integer, or a string holding one (the
/// message service's ids were strings). `None` is a string that is no id of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlexibleId(pub Option<i64>);

impl<'de> Deserialize<'de> for FlexibleId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "an integer id or a string holding one")]
        enum Raw {
            Int(i64),
            Str(String),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Int(id) => Self(Some(id)),
            Raw::Str(text) => Self(text.trim().parse().ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_integers_and_numeric_strings() {
        let read = |json: &str| serde_json::from_str::<FlexibleId>(json).ok();
        assert_eq!(read("12"), Some(FlexibleId(Some(12))));
        assert_eq!(read("\"12\""), Some(FlexibleId(Some(12))));
        assert_eq!(read("\"a1b2c3\""), Some(FlexibleId(None)));
        assert_eq!(read("true"), None);
        assert_eq!(read("1.5"), None);
    }
}
