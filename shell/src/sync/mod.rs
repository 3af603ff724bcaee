//! Wake-ups between tasks: one-waiter doorbells and flags (`notify.rs`), and a one-shot
//! signal any number of tasks can wait for (`latch.rs`).

pub(crate) mod latch;
pub(crate) mod notify;
