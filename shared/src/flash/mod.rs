//! Flash layout planning (RP2040) and AtomVM's JIT cache records.
