//! The packbeam (`.avm`) format: reader and byte-exact writer.
