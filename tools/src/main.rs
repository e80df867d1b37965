//! Placeholder: the trace report command is being written.
fn main() {}
