//! Fields of the runtime's `Context` (one Erlang process) and `JITState` that generated code
//! reads and writes, as byte offsets on a 32-bit build, and the x register count.

/// Number of x registers addressable directly; `{x_reg, N}` with N >= MAX_REG is "extended",
/// and `x[MAX_REG]` is the "extra" one.
pub const MAX_REG: u32 = 16;

/// `ctx->e`: pointer to the y registers (the stack frame).
pub const CTX_Y_REGS: i64 = 0x14;
/// `ctx->x[0]`; `ctx->x[n]` is at [`ctx_x_reg`]`(n)`.
pub const CTX_X_REGS: i64 = 0x18;
/// `ctx->cp`: the continuation pointer.
pub const CTX_CP: i64 = 0x5C;
/// `ctx->fr`: pointer to the float registers.
pub const CTX_FP_REGS: i64 = 0x60;
/// `ctx->bs`: the binary being built.
pub const CTX_BS: i64 = 0x64;
/// `ctx->bs_offset`: the bit offset into it.
pub const CTX_BS_OFFSET: i64 = 0x68;

/// `ctx->x[n]` (n may be `MAX_REG` for the extra register).
pub const fn ctx_x_reg(n: u32) -> i64 {
    CTX_X_REGS + 4 * n as i64
}

/// `ctx->flags` bit telling that a receive timeout fired.
pub const WAITING_TIMEOUT_EXPIRED: i64 = 2;

/// `jit_state->module`.
pub const JITSTATE_MODULE: i64 = 0;
/// `jit_state->continuation`.
pub const JITSTATE_CONTINUATION: i64 = 4;
/// `jit_state->remaining_reductions`.
pub const JITSTATE_REDUCTION_COUNT: i64 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_registers_follow_the_frame_pointer() {
        assert_eq!(ctx_x_reg(0), CTX_Y_REGS + 4);
        // The extra register is the last slot before cp.
        assert_eq!(ctx_x_reg(MAX_REG) + 4, CTX_CP);
    }
}
