//! Reading and writing accepted TCP sockets, for every task that does: the per-thread
//! read buffer (`scratch.rs`), writing a whole buffer within a time limit
//! (`deadline_write.rs`), and closing without losing the last bytes written
//! (`linger.rs`).

pub(crate) mod deadline_write;
pub(crate) mod linger;
pub(crate) mod scratch;
