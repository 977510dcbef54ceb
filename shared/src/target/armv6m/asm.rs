//! Thumb-1 instruction encoder: pure functions from operands to instruction bytes.
