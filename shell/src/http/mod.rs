//! Plain HTTP on the WebSocket port: reading request heads and writing responses. What
//! to answer is the engine's business (`Event::Http` → `Action::Http`).

mod head;
mod response;
mod upgrade;

pub(crate) use head::{read_head, read_more, take_head, HeadError, RequestHead};
pub(crate) use response::{encode_response, simple_response};
pub(crate) use upgrade::{check_upgrade, UpgradeRefusal};
