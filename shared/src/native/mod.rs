//! The `avmN` chunk payload: header, jump table, code, labels and lines tables.
