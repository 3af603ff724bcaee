//! Raw JSON values that compare by their text: game-data payloads and replayed events
//! travel as written, never parsed into a value and re-serialised.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Owned raw JSON text.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(pub Box<RawValue>);

impl RawJson {
    /// Parses `text` as one JSON value, keeping it as written.
    pub fn from_text(text: String) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text).map(RawJson)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

/// Raw JSON text borrowed from an input frame.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJsonRef<'a>(#[serde(borrow)] pub &'a RawValue);

impl<'a> RawJsonRef<'a> {
    /// The JSON text.
    pub fn get(&self) -> &'a str {
        self.0.get()
    }
}

impl PartialEq for RawJsonRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl fmt::Debug for RawJsonRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}
