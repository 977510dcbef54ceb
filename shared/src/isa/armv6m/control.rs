//! Continuations, reduction counting and rescheduling, the continuation pointer, and the
//! labels-and-lines table that ends a module.
//!
//! A continuation is an address the scheduler jumps to; it always lands on a function prologue
//! (`push {r1, r4-r7, lr}`), which is why several sequences here align and emit one. Offsets that
//! are only known later (the resume point) are emitted as 0xFF placeholders and patched, so the
//! same code can be streamed to flash.

use super::asm::{self, Cc};
use super::branches::{EPILOGUE_REGS, PROLOGUE_REGS};
use super::moves::CTX_CP;
use super::{
    Armv6m, BranchKind, AVAILABLE_REGS_MASK, CTX_REG, JUMP_TABLE_ENTRY_SIZE,
    JUMP_TABLE_ENTRY_SIZE_THUMB2, STACK_OFFSET_JITSTATE,
};
use crate::compile::backend::{Arg, BackendError, Label, Reg, SortedLines};
use crate::stream::CodeSink;

use super::names::*;
use crate::abi::context::{JITSTATE_CONTINUATION, JITSTATE_MODULE, JITSTATE_REDUCTION_COUNT};
use crate::abi::prims::PRIM_SCHEDULE_NEXT_CP;
use crate::abi::term::{cp_offset_bits, MODULE_INDEX_SHIFT};

/// Reach of a 16-bit conditional branch, counted from the branch itself.
#[inline]
fn is_near_conditional(rel: i64) -> bool {
    matches!(rel, -252..=258) && rel % 2 == 0
}

impl<S: CodeSink> Armv6m<S> {
    /// `ldr jit_state_reg, [sp, #0]`: the `JITState *` saved by the prologue.
    fn load_jit_state(&mut self, reg: Reg) {
        self.put_ldr(reg, SP, i64::from(STACK_OFFSET_JITSTATE));
    }

    /// Decrement the reduction counter, leaving flags set on the new count.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn decrement_reductions(&mut self, count: Reg, jit_state: Reg) {
        self.load_jit_state(jit_state);
        self.put_ldr(count, jit_state, JITSTATE_REDUCTION_COUNT);
        self.put(asm::subs_imm(count, count, 1));
        self.put_str(count, jit_state, JITSTATE_REDUCTION_COUNT);
    }

    /// Pad with a nop to a word boundary (continuations must be word-aligned).
    fn align_with_nop(&mut self) {
        match self.cur_offset() % 4 {
            0 => {}
            2 => self.put(asm::nop()),
            _ => self.fail(BackendError::Unsupported("odd code offset")),
        }
    }

    /// The reference's `merge_used_regs`: what is in use on either path stays in use.
    fn join_used_regs(&mut self, other_used: u16) {
        self.used_regs |= other_used;
        self.available_regs = AVAILABLE_REGS_MASK & !self.used_regs;
    }

    /// `jit_state->continuation = <jump table entry of label> | 1`, computed PC-relatively.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn set_continuation_to_label(&mut self, label: u32) {
        let avail = self.available_regs;
        let pc_reg = self.avail(avail);
        let target = self.avail(avail & !pc_reg.bit());
        let entry_size = if self.thumb2() {
            JUMP_TABLE_ENTRY_SIZE_THUMB2
        } else {
            JUMP_TABLE_ENTRY_SIZE
        };
        let entry = (label as usize)
            .checked_mul(entry_size)
            .and_then(|o| o.checked_add(self.buf.base_offset()));
        let Some(entry) = entry else {
            return self.fail(BackendError::OutOfRange("label number"));
        };
        let adr_offset = self.cur_offset();
        self.put(asm::adr(pc_reg, 4));
        // `adr` yields the word-aligned pc; +1 sets the Thumb bit.
        let adr_pc = (adr_offset + 4) & !3;
        self.mov_immediate(target, entry as i64 + 1 - adr_pc as i64);
        self.put(asm::adds_reg(target, target, pc_reg));
        self.load_jit_state(pc_reg);
        self.put_str(target, pc_reg, JITSTATE_CONTINUATION);
        self.regs.invalidate_reg(pc_reg);
        self.regs.invalidate_reg(target);
    }

    /// `jit_state->continuation = <label to be placed later> | 1`. The `adr` is a placeholder
    /// patched when the returned label is placed (it must follow within adr's reach).
    pub(super) fn set_continuation_to_offset(&mut self) -> Label {
        let avail = self.available_regs;
        let temp = self.avail(avail);
        let jit_state = self.avail(avail & !temp.bit());
        let label = self.buf.new_local_label();
        self.buf.emit_use(label, BranchKind::Adr(temp));
        self.put(asm::adds_imm(temp, temp, 1));
        self.load_jit_state(jit_state);
        self.put_str(temp, jit_state, JITSTATE_CONTINUATION);
        self.regs.invalidate_reg(temp);
        self.regs.invalidate_reg(jit_state);
        label
    }

    /// A place the scheduler may resume: word-aligned (with a zero halfword), then the prologue.
    pub(super) fn continuation_entry_point(&mut self) {
        match self.cur_offset() % 4 {
            0 => {}
            2 => self.emit(&[0, 0]),
            _ => return self.fail(BackendError::Unsupported("odd code offset")),
        }
        self.put(asm::push(&PROLOGUE_REGS));
    }

    /// A new register holding the module index (`jit_state->module->module_index`).
    #[cfg_attr(not(target_os = "none"), inline(always))]
    pub(super) fn get_module_index(&mut self) -> Reg {
        let avail = self.available_regs;
        let reg = self.avail(avail);
        let jit_state = self.avail(avail & !reg.bit());
        self.load_jit_state(jit_state);
        self.put_ldr(reg, jit_state, JITSTATE_MODULE);
        self.put_ldr(reg, reg, 0);
        self.regs.invalidate_reg(jit_state);
        self.regs.invalidate_reg(reg);
        self.take_reg(reg);
        reg
    }

    /// Count a reduction; when none is left, yield to the scheduler with a continuation to a
    /// prologue placed right after, which the non-yielding path branches over.
    pub(super) fn decrement_reductions_and_maybe_schedule_next(&mut self) {
        let avail = self.available_regs;
        let temp = self.avail(avail);
        let jit_state = self.avail(avail & !temp.bit());
        self.decrement_reductions(temp, jit_state);
        // Placeholders: `bne <after prologue>` and `adr temp, <prologue>`.
        let bne_offset = self.cur_offset();
        self.emit(&[0xFF; 4]);
        let adr_offset = bne_offset + 2;
        self.put(asm::adds_imm(temp, temp, 1));
        self.put_str(temp, jit_state, JITSTATE_CONTINUATION);
        let used_before = self.used_regs;
        let regs_before = self.regs;
        self.tail_call_ctx_jit_state(PRIM_SCHEDULE_NEXT_CP, &[]);
        self.align_with_nop();
        let continuation = self.cur_offset();
        self.put(asm::push(&PROLOGUE_REGS));
        let after_prologue = self.cur_offset();
        let bne = asm::bcc(Cc::Ne, after_prologue as i64 - bne_offset as i64);
        self.patch_insn(bne_offset, bne);
        let adr = asm::adr(temp, continuation as i64 - (adr_offset & !3) as i64);
        self.patch_insn(adr_offset, adr);
        self.join_used_regs(used_before);
        self.regs.merge_from(&regs_before);
    }

    /// Call `label` with cp set to resume right after, yielding first if out of reductions.
    pub(super) fn call_or_schedule_next(&mut self, label: u32) {
        let (rewrite_offset, temp) = self.set_cp();
        self.call_only_or_schedule_next(label);
        self.rewrite_cp_offset(rewrite_offset, temp);
    }

    /// Jump to `label` if reductions remain, else yield with the continuation set to it.
    pub(super) fn call_only_or_schedule_next(&mut self, label: u32) {
        let avail = self.available_regs;
        let temp = self.avail(avail);
        let jit_state = self.avail(avail & !temp.bit());
        self.decrement_reductions(temp, jit_state);
        let bcc_offset = self.cur_offset();
        let target = Label::Num(label);
        match self.buf.label_offset(target) {
            Some(known) if is_near_conditional(known as i64 - bcc_offset as i64) => {
                self.put(asm::bcc(Cc::Ne, known as i64 - bcc_offset as i64));
            }
            known => {
                // `beq` over a far branch to the label, whose size is only known once emitted.
                self.emit(&[0xFF, 0xFF]);
                let far_offset = self.cur_offset();
                match known {
                    Some(known) => self.branch_to_offset(far_offset, known),
                    None => self.branch_to_label(target),
                }
                let far_size = (self.cur_offset() - far_offset) as i64;
                self.patch_insn(bcc_offset, asm::bcc(Cc::Eq, far_size + 2));
            }
        }
        self.set_continuation_to_label(label);
        self.tail_call_ctx_jit_state(PRIM_SCHEDULE_NEXT_CP, &[]);
    }

    /// Tail-call a primitive with cp set to resume right after it.
    pub(super) fn call_primitive_with_cp(&mut self, primitive: u32, args: &[Arg]) {
        let (rewrite_offset, temp) = self.set_cp();
        self.call_primitive_last(primitive, args);
        self.rewrite_cp_offset(rewrite_offset, temp);
    }

    /// `ctx->cp = module_index << 24 | <resume offset << 2>` (see [`crate::abi::term::MODULE_INDEX_SHIFT`]). The offset is loaded by a
    /// placeholder instruction at the returned offset, into the returned register, which
    /// [`Self::rewrite_cp_offset`] fills in once the resume point is known.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn set_cp(&mut self) -> (usize, Reg) {
        let index = self.get_module_index();
        let temp = self.avail(self.available_regs);
        self.put(asm::lsls_imm(index, index, MODULE_INDEX_SHIFT.into()));
        let rewrite_offset = self.cur_offset();
        self.emit(&[0xFF, 0xFF]);
        self.put(asm::orrs(index, temp));
        self.put_str(index, CTX_REG, CTX_CP);
        self.release_reg(index);
        (rewrite_offset, temp)
    }

    /// Place the resume point (word-aligned, then a prologue) and patch the offset load that
    /// [`Self::set_cp`] left: a `movs` when the offset fits 8 bits, else a `ldr` from a literal
    /// emitted just before the resume point.
    #[cfg_attr(not(target_os = "none"), inline(always))]
    fn rewrite_cp_offset(&mut self, rewrite_offset: usize, temp: Reg) {
        let current = self.cur_offset();
        let aligned = (current + 3) & !3;
        let padding = aligned - current;
        let delta = aligned as i64 - self.buf.base_offset() as i64;
        let encoded = cp_offset_bits(delta);
        let load = if encoded <= 255 {
            if padding > 0 {
                self.emit(&[0, 0]);
            }
            asm::movs_imm(temp, encoded)
        } else {
            // The literal sits at `aligned`, so execution resumes one word later.
            let literal = cp_offset_bits(delta + 4) as u32;
            self.emit(&[0; 3][..padding]);
            self.emit(&literal.to_le_bytes());
            let pc = (rewrite_offset + 4) & !3;
            asm::ldr_pc(temp, aligned as i64 - pc as i64)
        };
        self.patch_insn(rewrite_offset, load);
        self.put(asm::push(&PROLOGUE_REGS));
    }

    /// The label-0 function returning the address of the tables that follow it: the labels
    /// (numbered ones, by offset) and the lines, counts and entries big-endian.
    pub(super) fn return_labels_and_lines(&mut self, sorted_lines: &dyn SortedLines) {
        let aligned = self.cur_offset().is_multiple_of(4);
        // The tables must start word-aligned after `adr` and `pop`.
        self.put(asm::adr(R0, if aligned { 4 } else { 8 }));
        self.put(asm::pop(&EPILOGUE_REGS));
        if !aligned {
            self.emit(&[0, 0]);
        }
        self.buf.emit_label_and_line_tables(sorted_lines);
    }
}

#[cfg(test)]
mod tests {
    //! Expected bytes come from running the reference backend on the same calls.
    use super::super::moves::tests::{assert_code, backend, B};
    use super::*;
    use crate::compile::backend::Val;
    use alloc::string::String;

    /// Emit one halfword (`ldr r7, [r0, #24]`) and free the register again.
    fn unaligned(b: &mut B) {
        let r = b.move_to_native_register(Val::X(0));
        b.release_reg(r);
    }

    /// One ARMv6-M jump table entry whose target is not known yet.
    const ENTRY: &str = "014bf2b59f44c046ffffffff";

    fn entries(targets: &[Option<&str>]) -> String {
        targets
            .iter()
            .map(|t| match t {
                None => String::from(ENTRY),
                Some(word) => String::from(&ENTRY[..16]) + word,
            })
            .collect()
    }

    /// A jump table for labels 0..=4 followed by 80 two-instruction moves (640 bytes).
    fn far_code(b: &mut B) {
        b.jump_table(4);
        b.add_label(Label::Num(2));
        for _ in 0..80 {
            b.move_to_vm_register(Arg::keep(Val::Imm(0)), Val::X(1));
        }
    }

    fn padding_moves() -> String {
        "0027c761".repeat(80)
    }

    #[test]
    fn continuation_to_label_points_into_the_jump_table() {
        let mut b = backend(1);
        b.set_continuation_to_label(5);
        assert_code(&mut b, "00a73926f619009f7e60");

        let mut b = backend(1);
        unaligned(&mut b);
        b.set_continuation_to_label(300);
        assert_code(&mut b, "876900a7014ef619009f7e600d0e0000");

        let mut b = backend(1 | u32::from(crate::abi::jit::VARIANT_THUMB2));
        b.set_continuation_to_label(7);
        assert_code(&mut b, "00a72726f619009f7e60");
    }

    #[test]
    fn continuation_to_offset_is_patched_when_placed() {
        let mut b = backend(1);
        let label = b.set_continuation_to_offset();
        unaligned(&mut b);
        b.add_label(label);
        b.update_branches();
        assert_code(&mut b, "02a70137009e77608769c046");

        let mut b = backend(1);
        unaligned(&mut b);
        let label = b.set_continuation_to_offset();
        unaligned(&mut b);
        b.add_label(label);
        b.update_branches();
        assert_code(&mut b, "876902a70137009e77608769");
    }

    #[test]
    fn entry_points_and_module_index() {
        let mut b = backend(1);
        b.continuation_entry_point();
        assert_code(&mut b, "f2b5");

        let mut b = backend(1);
        unaligned(&mut b);
        b.continuation_entry_point();
        assert_code(&mut b, "87690000f2b5");

        let mut b = backend(1);
        unaligned(&mut b);
        assert_eq!(b.get_module_index(), R7);
        assert_code(&mut b, "8769009e37683f68");
        assert_eq!(b.used_regs_mask(), R7.bit());
    }

    #[test]
    fn reduction_check_yields_through_a_word_aligned_prologue() {
        let mut b = backend(1);
        b.decrement_reductions_and_maybe_schedule_next();
        assert_code(
            &mut b,
            "009eb768013fb76009d104a7013777609768059e0597b646f2bdc046f2b5",
        );
        assert!(b.all_native_free());

        let mut b = backend(1);
        unaligned(&mut b);
        b.decrement_reductions_and_maybe_schedule_next();
        assert_code(
            &mut b,
            "8769009eb768013fb76008d103a7013777609768059e0597b646f2bdf2b5",
        );

        // A register in use stays in use across the check.
        let mut b = backend(1);
        let r = b.move_to_native_register(Val::X(2));
        b.decrement_reductions_and_maybe_schedule_next();
        assert_code(
            &mut b,
            "076a009dae68013eae6008d103a601366e609768059e0597b646f2bdf2b5",
        );
        assert_eq!(b.used_regs_mask(), r.bit());

        let mut b = backend(1 | u32::from(crate::abi::jit::VARIANT_THUMB2));
        b.decrement_reductions_and_maybe_schedule_next();
        assert_code(
            &mut b,
            "009eb768013fb76009d104a7013777609768059e0597b646f2bdc046f2b5",
        );
    }

    const YIELD: &str = "9768059e0597b646f2bd";

    #[test]
    fn call_to_a_label_placed_later() {
        let mut b = backend(1);
        b.jump_table(4);
        b.call_only_or_schedule_next(3);
        b.add_label(Label::Num(3));
        b.update_branches();
        let expected = entries(&[None, None, None, Some("3d000000"), None])
            + "009eb768013fb76004d00fe0c046c046c046c04600a72f267642f619009f7e60"
            + YIELD
            + "c046";
        assert_code(&mut b, &expected);
    }

    #[test]
    fn call_to_a_near_label() {
        let mut b = backend(1);
        b.jump_table(4);
        b.add_label(Label::Num(2));
        unaligned(&mut b);
        b.call_only_or_schedule_next(2);
        let expected = entries(&[None, None, Some("1d000000"), None, None])
            + "8769009eb768013fb760f9d100a733267642f619009f7e60"
            + YIELD;
        assert_code(&mut b, &expected);
    }

    #[test]
    fn call_to_a_far_label() {
        let mut b = backend(1);
        far_code(&mut b);
        b.call_only_or_schedule_next(2);
        let expected = entries(&[None, None, Some("1d000000"), None, None])
            + &padding_moves()
            + "009eb768013fb76000d059e700a7044ef619009f7e60"
            + YIELD
            + "8dfeffff";
        assert_code(&mut b, &expected);
    }

    #[test]
    fn thumb2_call_to_a_label_placed_later() {
        let mut b = backend(1 | u32::from(crate::abi::jit::VARIANT_THUMB2));
        b.jump_table(4);
        b.call_only_or_schedule_next(4);
        b.add_label(Label::Num(4));
        b.update_branches();
        let expected = String::from("f2b5ffffffff").repeat(4)
            + "f2b500f015b8009eb768013fb76001d000f00eb800a74ff6e976cff6ff76f619009f7e60"
            + YIELD
            + "c046";
        assert_code(&mut b, &expected);
    }

    #[test]
    fn call_with_cp_resuming_at_a_small_offset() {
        let mut b = backend(1);
        b.jump_table(4);
        b.call_or_schedule_next(1);
        b.add_label(Label::Num(1));
        b.update_branches();
        let expected = entries(&[None, Some("6d000000"), None, None, None])
            + "009e37683f683f060c4e3743c765"
            + "009eb768013fb76005d014e0c046c046c046c046c04600a757267642f619009f7e60"
            + YIELD
            + "0000f0010000f2b5c046";
        assert_code(&mut b, &expected);
    }

    #[test]
    fn call_with_cp_resuming_at_a_large_offset_loads_a_literal() {
        for unaligned_start in [false, true] {
            let mut b = backend(1);
            far_code(&mut b);
            if unaligned_start {
                unaligned(&mut b);
            }
            b.call_or_schedule_next(1);
            b.add_label(Label::Num(1));
            b.update_branches();
            let body = if unaligned_start {
                "8769009e37683f683f060c4e3743c765009eb768013fb76004d013e0c046c046c046c046"
            } else {
                "009e37683f683f060c4e3743c765009eb768013fb76005d014e0c046c046c046c046c046"
            };
            let expected = entries(&[None, Some("ad010000"), Some("1d000000"), None, None])
                + &padding_moves()
                + body
                + "00a7044ef619009f7e60"
                + YIELD
                + "69fefffff0060000f2b5c046";
            assert_code(&mut b, &expected);
        }
    }

    #[test]
    fn primitive_tail_call_with_cp() {
        let mut b = backend(1);
        b.jump_table(4);
        unaligned(&mut b);
        let args = [
            Arg::keep(Val::Ctx),
            Arg::keep(Val::JitState),
            Arg::keep(Val::X(1)),
        ];
        b.call_primitive_with_cp(50, &args);
        let expected = entries(&[None; 5])
            + "8769009e37683f683f06054e3743c765c827d759c269059e0597b646f2bd000080010000f2b5";
        assert_code(&mut b, &expected);

        let mut b = backend(1);
        b.call_primitive_with_cp(9, &[Arg::keep(Val::Ctx), Arg::keep(Val::JitState)]);
        assert_code(
            &mut b,
            "009e37683f683f0660263743c765576a059e0597b646f2bdf2b5",
        );
    }

    /// Labels 2 and 4 share an offset (the later one comes first in the table), as do 1 and 0.
    fn labelled(b: &mut B) -> String {
        b.jump_table(4);
        b.add_label(Label::Num(2));
        b.add_label(Label::Num(4));
        unaligned(b);
        b.add_label(Label::Num(1));
        b.add_label(Label::Num(0));
        unaligned(b);
        b.add_label(Label::Num(3));
        entries(&[
            Some("39000000"),
            Some("2d000000"),
            Some("1d000000"),
            Some("19000000"),
            Some("05000000"),
        ]) + "8769c0468769c046"
    }

    #[test]
    fn labels_and_lines_tables() {
        // Count, then {u16 label, u32 offset} big-endian entries sorted by offset.
        let labels = "0005\
                      00040000003c00020000003c\
                      000000000040000100000040\
                      000300000044";
        let mut b = backend(1);
        let mut expected = labelled(&mut b);
        // Line numbers are truncated to 16 bits (70000 -> 0x1170).
        b.return_labels_and_lines(&[(5, 60), (2, 64), (70000, 64)]);
        expected += "00a0f2bd";
        expected += labels;
        expected += "0003\
                     00050000003c000200000040117000000040";
        assert_code(&mut b, &expected);

        // From an unaligned offset: adr reaches past a padding halfword.
        let mut b = backend(1);
        let mut expected = labelled(&mut b);
        unaligned(&mut b);
        b.return_labels_and_lines(&[]);
        expected += "876901a0f2bd0000";
        expected += labels;
        expected += "0000";
        assert_code(&mut b, &expected);
    }
}
