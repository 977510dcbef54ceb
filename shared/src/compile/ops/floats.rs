//! Float registers: fmove, fconv, float arithmetic.

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// `fnegate`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_fnegate(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_label(cur)?;
        let fp1 = decode_fp_register(cur)?;
        let fp2 = decode_fp_register(cur)?;
        let reg = self
            .b
            .call_primitive(PRIM_FNEGATE, &[CTX, imm(fp1.into()), imm(fp2.into())]);
        self.b.free_native_registers(&[r(reg)]);
        Ok(())
    }

    /// `fmove`: a float register into a term, or a boxed float into a float register.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_fmove(&mut self, cur: &mut Cursor) -> Result<()> {
        if cur.peek()? == EXT_FP_REGISTER {
            // From a float register to a term.
            cur.u8()?;
            let fp = decode_literal(cur)?;
            let dest: Val = decode_dest(&mut self.b, cur)?.into();
            let result = self
                .b
                .call_primitive(PRIM_TERM_FROM_FLOAT, &[CTX, uimm(fp)]);
            self.b.move_to_vm_register(kept(result), dest);
            self.b.free_native_registers(&[r(result), dest]);
            return Ok(());
        }
        let src = self.decode_val(cur)?;
        let fp = decode_fp_register(cur)?;
        let result = self.b.call_primitive(PRIM_CONTEXT_ENSURE_FPREGS, &[CTX]);
        self.b.free_native_registers(&[r(result)]);
        let reg = self.b.move_to_native_register(src);
        let reg = self.b.and_(freed(reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b
            .move_to_vm_register(Arg::free(Val::PtrOffset(reg, 1)), Val::Fp(fp));
        Ok(())
    }

    /// `fconv`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_fconv(&mut self, cur: &mut Cursor) -> Result<()> {
        let src = self.decode_val(cur)?;
        let reg = self.b.move_to_native_register(src);
        let is_number = self.b.call_primitive(PRIM_TERM_IS_NUMBER, &[kept(reg)]);
        self.b.if_block(is_false(freed(is_number)), |b| {
            raise_error(b, BADARITH_ATOM)
        });
        let fp = decode_fp_register(cur)?;
        let result = self.b.call_primitive(PRIM_CONTEXT_ENSURE_FPREGS, &[CTX]);
        self.b.free_native_registers(&[r(result)]);
        let conv = self
            .b
            .call_primitive(PRIM_TERM_CONV_TO_FLOAT, &[CTX, freed(reg), imm(fp.into())]);
        self.b.free_native_registers(&[r(conv)]);
        Ok(())
    }

    per_instruction! {
        op_fadd => lower_float_arith(PRIM_FADD);
        op_fsub => lower_float_arith(PRIM_FSUB);
        op_fmul => lower_float_arith(PRIM_FMUL);
        op_fdiv => lower_float_arith(PRIM_FDIV);
    }

    /// `fadd`, `fsub`, `fmul`, `fdiv`: `fp3 = primitive(fp1, fp2)` (its `op_*` methods give
    /// [`PRIM_FADD`], [`PRIM_FSUB`], [`PRIM_FMUL`] or [`PRIM_FDIV`]).
    #[cfg_attr(target_os = "none", inline(never))]
    fn lower_float_arith(&mut self, primitive: u32, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let fp1 = decode_fp_register(cur)?;
        let fp2 = decode_fp_register(cur)?;
        let fp3 = decode_fp_register(cur)?;
        let reg = self.b.call_primitive(
            primitive,
            &[CTX, imm(fp1.into()), imm(fp2.into()), imm(fp3.into())],
        );
        if label > 0 {
            cond_jump_to_label(&mut self.b, is_false(kept(reg)), label);
            self.b.free_native_registers(&[r(reg)]);
        } else {
            self.b
                .if_block(is_false(freed(reg)), |b| raise_error(b, BADARITH_ATOM));
        }
        Ok(())
    }
}
