//! Generic BEAM opcodes: numbers, names and arities (up to OTP 28).
