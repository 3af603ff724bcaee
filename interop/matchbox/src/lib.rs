//! Nothing here: the test is `tests/data_channel.rs`.
