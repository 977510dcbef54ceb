//! `if_block`, `if_block_and` and `if_else_block`: each condition emits its test and a 4-byte
//! 0xFF placeholder for the branch that skips the block, patched once the block's end is known
//! ([`LabelUse::CondBranch`]). The forms follow the reference's clause order.

use super::asm::{self, XReg};
use super::labels::{BranchOp, LabelUse};
use super::names::RegBit;
use super::{xr, Riscv32};
use crate::compile::backend::{Arg, Cast, CmpOp, Cond, Reg, Val};
use crate::isa::fixed_vec::FixedVec;
use crate::stream::CodeSink;

/// Most conditions of one `{'and', Conds}` block (the driver emits at most a handful).
const MAX_AND_CONDS: usize = 8;

/// The branch to patch: op, rs1, rs2, and the placeholder's offset.
#[derive(Clone, Copy)]
struct Branch {
    op: BranchOp,
    rs1: XReg,
    rs2: XReg,
    at: usize,
}

impl<S: CodeSink> Riscv32<S> {
    fn patch_branch(&mut self, b: Branch, target: usize) {
        self.buf.patch_use(
            b.at,
            LabelUse::CondBranch {
                op: b.op,
                rs1: b.rs1,
                rs2: b.rs2,
            },
            target,
        );
    }

    pub(super) fn if_block(&mut self, cond: Cond, body: impl FnOnce(&mut Self)) {
        let branch = self.if_block_cond(cond);
        let used1 = self.used_regs;
        let regs1 = self.regs;
        body(self);
        let end = self.cur_offset();
        if let Some(b) = branch {
            self.patch_branch(b, end);
        }
        self.merge_used_regs(used1);
        self.regs = regs1.merge(&self.regs);
    }

    pub(super) fn if_block_and(&mut self, conds: &[Cond], body: impl FnOnce(&mut Self)) {
        let none = Branch {
            op: BranchOp::Beq,
            rs1: XReg::ZERO,
            rs2: XReg::ZERO,
            at: 0,
        };
        let mut branches: FixedVec<Branch, MAX_AND_CONDS> = FixedVec::new(none);
        for c in conds {
            if let Some(b) = self.if_block_cond(*c) {
                if branches.push(b).is_err() {
                    self.unsupported("more conditions in one if_block");
                }
            }
        }
        let used1 = self.used_regs;
        let regs1 = self.regs;
        body(self);
        let end = self.cur_offset();
        for &b in branches.iter().rev() {
            self.patch_branch(b, end);
        }
        self.merge_used_regs(used1);
        self.regs = regs1.merge(&self.regs);
    }

    pub(super) fn if_else_block(
        &mut self,
        cond: Cond,
        then_body: impl FnOnce(&mut Self),
        else_body: impl FnOnce(&mut Self),
    ) {
        let branch = self.if_block_cond(cond);
        let (used1, avail1, regs1) = (self.used_regs, self.available_regs, self.regs);
        then_body(self);
        let else_jump = self.cur_offset();
        self.buf.emit(&[0xFF, 0xFF]);
        let else_start = self.cur_offset();
        if let Some(b) = branch {
            self.patch_branch(b, else_start);
        }
        let (used2, regs2) = (self.used_regs, self.regs);
        self.used_regs = used1;
        self.available_regs = avail1;
        self.regs = regs1;
        else_body(self);
        let end = self.cur_offset();
        self.buf.patch_use(else_jump, LabelUse::ElseJump, end);
        self.merge_used_regs(used2);
        self.regs = regs2.merge(&self.regs);
    }

    /// Free the operand of a condition if it is `{free, Reg}`.
    fn free_operand(&mut self, a: Arg) {
        if let (true, Val::Reg(r)) = (a.free, a.val) {
            self.release_reg(r);
        }
    }

    /// The 4-byte placeholder for `op rs1, rs2` at the current offset.
    fn placeholder(&mut self, op: BranchOp, rs1: Reg, rs2: Option<Reg>) -> Branch {
        let at = self.cur_offset();
        self.buf.emit(&[0xFF; 4]);
        Branch {
            op,
            rs1: xr(rs1),
            rs2: rs2.map_or(XReg::ZERO, xr),
            at,
        }
    }

    /// `li temp, imm` then the placeholder `op a, b` where temp stands in for `None`.
    fn via_temp(
        &mut self,
        imm: i64,
        op: BranchOp,
        reg: Reg,
        temp_first: bool,
        operand: Arg,
    ) -> Option<Branch> {
        let temp = self.avail(self.available_regs);
        self.li(temp, imm);
        let b = if temp_first {
            self.placeholder(op, temp, Some(reg))
        } else {
            self.placeholder(op, reg, Some(temp))
        };
        self.free_operand(operand);
        self.regs.invalidate_reg(temp);
        Some(b)
    }

    fn if_block_cond(&mut self, cond: Cond) -> Option<Branch> {
        match cond {
            Cond::Cmp {
                cast: Cast::Bool,
                lhs,
                op,
                rhs: _,
            } => {
                let Val::Reg(reg) = lhs.val else {
                    self.unsupported("if_block (bool) operand");
                    return None;
                };
                let (op, ok) = match op {
                    CmpOp::Eq => (BranchOp::Blt, true),
                    CmpOp::Ne => (BranchOp::Bge, true),
                    CmpOp::Lt => (BranchOp::Bge, false),
                };
                if !ok {
                    self.unsupported("if_block (bool) <");
                    return None;
                }
                let temp = self.avail(self.available_regs);
                self.put(asm::slli(xr(temp), xr(reg), 31));
                let b = self.placeholder(op, temp, None);
                self.free_operand(lhs);
                self.regs.invalidate_reg(temp);
                Some(b)
            }
            Cond::Cmp { cast, lhs, op, rhs } => self.cond_cmp(cast, lhs, op, rhs),
            Cond::Mask {
                lhs,
                mask,
                op: CmpOp::Ne,
                value,
            } => self.cond_mask(lhs, mask, value),
            Cond::Mask { .. } => {
                self.unsupported("if_block mask condition");
                None
            }
        }
    }

    fn cond_cmp(&mut self, cast: Cast, lhs: Arg, op: CmpOp, rhs: Arg) -> Option<Branch> {
        if cast == Cast::Int && op == CmpOp::Lt {
            self.unsupported("if_block (int) <");
            return None;
        }
        match (op, lhs.val, rhs.val) {
            (CmpOp::Lt, Val::Reg(r), Val::Imm(0)) if cast == Cast::Word => {
                let b = self.placeholder(BranchOp::Bge, r, None);
                self.free_operand(lhs);
                Some(b)
            }
            (CmpOp::Lt, Val::Reg(r), Val::Imm(v)) => self.via_temp(v, BranchOp::Bge, r, false, lhs),
            (CmpOp::Lt, Val::Imm(v), Val::Reg(r)) => self.via_temp(v, BranchOp::Bge, r, true, rhs),
            (CmpOp::Lt, Val::Reg(r), Val::Reg(r2)) if !rhs.free => {
                let b = self.placeholder(BranchOp::Bge, r, Some(r2));
                self.free_operand(lhs);
                Some(b)
            }
            (CmpOp::Eq, Val::Reg(r), Val::Imm(0)) => {
                let b = self.placeholder(BranchOp::Bne, r, None);
                self.free_operand(lhs);
                Some(b)
            }
            (CmpOp::Eq, Val::Reg(r), Val::Reg(r2)) if !rhs.free && cast == Cast::Word => {
                let b = self.placeholder(BranchOp::Bne, r, Some(r2));
                self.free_operand(lhs);
                Some(b)
            }
            (CmpOp::Ne, Val::Reg(r), Val::Imm(v)) if (0..=255).contains(&v) => {
                self.via_temp(v, BranchOp::Beq, r, false, lhs)
            }
            (CmpOp::Ne, Val::Reg(r), Val::Reg(r2)) if !rhs.free && cast == Cast::Word => {
                let b = self.placeholder(BranchOp::Beq, r, Some(r2));
                self.free_operand(lhs);
                Some(b)
            }
            (CmpOp::Eq, Val::Reg(r), Val::Imm(v)) if (0..=255).contains(&v) => {
                self.via_temp(v, BranchOp::Bne, r, false, lhs)
            }
            (CmpOp::Eq, Val::Reg(a), Val::Reg(b)) if lhs.free && rhs.free && cast == Cast::Word => {
                let br = self.placeholder(BranchOp::Bne, a, Some(b));
                self.free_operand(lhs);
                self.free_operand(rhs);
                Some(br)
            }
            (CmpOp::Eq, Val::Reg(r), Val::Imm(v)) => self.via_temp(v, BranchOp::Bne, r, false, lhs),
            (CmpOp::Ne, Val::Reg(r), Val::Imm(v)) => self.via_temp(v, BranchOp::Beq, r, false, lhs),
            _ => {
                self.unsupported("if_block condition");
                None
            }
        }
    }

    fn cond_mask(&mut self, lhs: Arg, mask: i64, value: i64) -> Option<Branch> {
        let Val::Reg(reg) = lhs.val else {
            self.unsupported("if_block mask operand");
            return None;
        };
        if value == 0 {
            let temp = self.avail(self.available_regs);
            let t = xr(temp);
            if (-2048..=2047).contains(&mask) {
                self.put(asm::andi(t, xr(reg), mask));
            } else {
                self.li(temp, mask);
                self.put_i(asm::and(t, xr(reg), t));
            }
            let b = self.placeholder(BranchOp::Beq, temp, None);
            self.free_operand(lhs);
            self.regs.invalidate_reg(temp);
            return Some(b);
        }
        if mask == 0xF && value == 0xF {
            if !lhs.free {
                let temp = self.avail(self.available_regs);
                let t = xr(temp);
                self.put_i(asm::not(t, xr(reg)));
                self.put(asm::slli(t, t, 28));
                let b = self.placeholder(BranchOp::Beq, temp, None);
                self.regs.invalidate_reg(temp);
                return Some(b);
            }
            let r = xr(reg);
            self.put_i(asm::not(r, r));
            self.put(asm::slli(r, r, 28));
            let b = self.placeholder(BranchOp::Beq, reg, None);
            self.regs.invalidate_reg(reg);
            self.free_operand(lhs);
            return Some(b);
        }
        if !lhs.free {
            let avail = self.available_regs;
            let temp = self.avail(avail);
            let at = avail & !temp.bit();
            self.put_i(asm::mv(xr(temp), xr(reg)));
            self.available_regs = at;
            self.and_(Arg::free(Val::Reg(temp)), Val::Imm(mask));
            let mask_reg = self.avail(at);
            self.available_regs = at & !mask_reg.bit();
            self.li(mask_reg, value);
            let b = self.placeholder(BranchOp::Beq, temp, Some(mask_reg));
            self.regs.invalidate_reg(mask_reg);
            self.available_regs |= temp.bit() | mask_reg.bit();
            return Some(b);
        }
        let avail0 = self.available_regs;
        self.and_(lhs, Val::Imm(mask));
        let mask_reg = self.avail(self.available_regs);
        self.available_regs &= !mask_reg.bit();
        self.li(mask_reg, value);
        let b = self.placeholder(BranchOp::Beq, reg, Some(mask_reg));
        self.regs.invalidate_reg(mask_reg);
        self.available_regs = avail0;
        self.free_operand(lhs);
        Some(b)
    }
}
