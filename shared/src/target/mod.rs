//! Code generation targets.

pub mod armv6m;
