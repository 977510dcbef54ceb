//! Constants of the driver. The runtime's ABI facts (primitive numbers, term layout, fixed
//! atoms, `Context` fields) each have one home in [`crate::abi`]; they are re-exported here so
//! that the lowering code can take them all with one `use`. Opcode numbers come from the one
//! opcode table, [`crate::beam::opcodes`].

pub use crate::abi::atoms::*;
pub use crate::abi::context::{MAX_REG, WAITING_TIMEOUT_EXPIRED};
pub use crate::abi::prims::*;
pub use crate::abi::term::*;

pub const INT32_MIN: i64 = i32::MIN as i64;
pub const INT32_MAX: i64 = i32::MAX as i64;
pub const INT64_MIN: i64 = i64::MIN;
pub const INT64_MAX: i64 = i64::MAX;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_numbers() {
        assert_eq!(PRIM_RAISE_ERROR_MFA, 76);
        assert_eq!(PRIM_SCHEDULE_NEXT_CP, 2);
        assert_eq!(INT32_MIN, -0x8000_0000);
    }
}
