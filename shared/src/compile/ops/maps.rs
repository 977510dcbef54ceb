//! Maps: put_map_assoc/exact, has_map_fields, get_map_elements.

use super::*;

impl<B: Backend, E: ModuleEnv> Driver<'_, B, E> {
    /// Raise `out_of_memory` when the map position in `pos` says allocation failed.
    pub(super) fn raise_if_map_alloc_failed(&mut self, pos: Arg) {
        self.b.if_block(
            cmp_int(pos, CmpOp::Eq, imm(TERM_MAP_MEMORY_ALLOC_FAIL)),
            |b| raise_error(b, OUT_OF_MEMORY_ATOM),
        );
    }

    /// For each key of the `count` key/value pairs at `cur` (values skipped): look it up in the
    /// map `src`, run `on_missing` when it is not there, raise when the lookup could not allocate.
    pub(super) fn for_each_missing_key(
        &mut self,
        src: Val,
        count: u32,
        cur: &mut Cursor,
        on_missing: impl Fn(&mut B),
    ) -> Result<()> {
        for _ in 0..count {
            let key = self.decode_free(cur)?;
            skip_compact_term(cur)?;
            let pos = self
                .b
                .call_primitive(PRIM_TERM_FIND_MAP_POS, &[CTX, Arg::keep(src), key]);
            self.b.if_block(
                cmp_int(kept(pos), CmpOp::Eq, imm(TERM_MAP_NOT_FOUND)),
                &on_missing,
            );
            self.raise_if_map_alloc_failed(freed(pos));
        }
        Ok(())
    }

    /// `put_map_assoc`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_put_map_assoc(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_label(cur)?;
        let src = self.decode_val(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let live = decode_literal(cur)?;
        let size = decode_extended_list_header(cur)?;
        let new_entries = self.b.move_to_native_register(Val::Imm(0));
        let count = size / 2;
        let pairs_start = cur.clone();
        // First pass over the pairs: count keys that are not in the map yet.
        self.for_each_missing_key(src, count, cur, |b| {
            b.add(kept(new_entries), Val::Imm(1));
        })?;
        let after_pairs = cur.clone();
        let src_size = term_get_map_size(&mut self.b, Arg::keep(src));
        self.b.if_else_block(
            cmp(kept(new_entries), CmpOp::Eq, imm(0)),
            |b| {
                b.add(kept(src_size), Val::Imm(2));
            },
            |b| {
                b.add(kept(src_size), r(new_entries));
                b.shift_left(kept(src_size), 1);
                b.add(kept(src_size), Val::Imm(3));
            },
        );
        let new_src = self.trim_and_ensure_free(src, live, src_size, cur)?;
        let kv = self.b.call_primitive(
            PRIM_MALLOC,
            &[
                CTX,
                JIT_STATE,
                imm(i64::from(size) * i64::from(B::WORD_SIZE)),
            ],
        );
        handle_error_if(&mut self.b, cmp(kept(kv), CmpOp::Eq, imm(0)));
        // Second pass: copy the pairs into the malloc'ed array.
        *cur = pairs_start;
        for index in 0..i64::from(count) {
            let key = self.decode_val(cur)?;
            let value = self.decode_val(cur)?;
            self.b.move_to_array_element(key, kv, Val::Imm(index * 2));
            self.b
                .move_to_array_element(value, kv, Val::Imm(index * 2 + 1));
            self.b.free_native_registers(&[key, value]);
        }
        check_pairs_reread(cur, &after_pairs)?;
        let result = self.b.call_primitive(
            PRIM_PUT_MAP_ASSOC,
            &[
                CTX,
                JIT_STATE,
                Arg::free(new_src),
                freed(new_entries),
                imm(count.into()),
                kept(kv),
            ],
        );
        let freed_reg = self.b.call_primitive(PRIM_FREE, &[freed(kv)]);
        self.b.free_native_registers(&[r(freed_reg)]);
        handle_error_if(&mut self.b, cmp(kept(result), CmpOp::Eq, imm(0)));
        self.b.move_to_vm_register(kept(result), dest);
        self.b.free_native_registers(&[r(result), dest]);
        Ok(())
    }

    /// `put_map_exact`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_put_map_exact(&mut self, cur: &mut Cursor) -> Result<()> {
        decode_label(cur)?;
        let src = self.decode_val(cur)?;
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        let live = decode_literal(cur)?;
        let size = decode_extended_list_header(cur)?;
        let count = size / 2;
        let pairs_start = cur.clone();
        // Every key must already be in the map.
        self.for_each_missing_key(src, count, cur, |b| raise_error(b, BADARG_ATOM))?;
        let after_pairs = cur.clone();
        let src_size = term_get_map_size(&mut self.b, Arg::keep(src));
        self.b.add(kept(src_size), Val::Imm(2));
        let new_src = self.trim_and_ensure_free(src, live, src_size, cur)?;
        let map = self
            .b
            .call_primitive(PRIM_TERM_COPY_MAP, &[CTX, Arg::keep(new_src)]);
        let map = self.b.and_(freed(map), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        *cur = pairs_start;
        for _ in 0..count {
            let key = self.decode_val(cur)?;
            let value = self.decode_val(cur)?;
            let pos = self.b.call_primitive(
                PRIM_TERM_FIND_MAP_POS,
                &[CTX, Arg::keep(new_src), Arg::keep(key)],
            );
            self.raise_if_map_alloc_failed(kept(pos));
            term_set_map_assoc(&mut self.b, map, pos, key, value);
        }
        check_pairs_reread(cur, &after_pairs)?;
        self.b.or_(kept(map), Val::Imm(TERM_PRIMARY_BOXED));
        self.b.move_to_vm_register(kept(map), dest);
        self.b.free_native_registers(&[r(map), dest, new_src]);
        Ok(())
    }

    /// Look `key` up in `map`, jumping to `label` when it is absent; the position register
    /// (an allocation failure is still to be checked).
    pub(super) fn find_map_pos_or_jump(&mut self, map: Arg, key: Arg, label: u32) -> Reg {
        let pos = self
            .b
            .call_primitive(PRIM_TERM_FIND_MAP_POS, &[CTX, map, key]);
        let absent = cmp_int(kept(pos), CmpOp::Eq, imm(TERM_MAP_NOT_FOUND));
        cond_jump_to_label(&mut self.b, absent, label);
        pos
    }

    /// `has_map_fields`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_has_map_fields(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let src = self.decode_val(cur)?;
        let size = decode_extended_list_header(cur)?;
        let key = self.decode_free(cur)?;
        let pos = self.find_map_pos_or_jump(Arg::keep(src), key, label);
        self.raise_if_map_alloc_failed(freed(pos));
        for _ in 2..=size {
            let key = self.decode_val(cur)?;
            let pos = self.find_map_pos_or_jump(Arg::keep(src), Arg::keep(key), label);
            self.raise_if_map_alloc_failed(freed(pos));
            self.b.free_native_registers(&[key]);
        }
        self.b.free_native_registers(&[src]);
        Ok(())
    }

    /// `get_map_elements`.
    #[cfg_attr(target_os = "none", inline(never))]
    pub(super) fn op_get_map_elements(&mut self, cur: &mut Cursor) -> Result<()> {
        let label = decode_label(cur)?;
        let src = self.decode_val(cur)?;
        let size = decode_extended_list_header(cur)?;
        let key = self.decode_free(cur)?;
        let pos = self.find_map_pos_or_jump(Arg::keep(src), key, label);
        self.raise_if_map_alloc_failed(kept(pos));
        let src_reg = self.b.move_to_native_register(src);
        let map = self
            .b
            .and_(kept(src_reg), Val::Imm(TERM_PRIMARY_CLEAR_MASK));
        self.b.add(kept(map), Val::Imm(i64::from(B::WORD_SIZE) * 2));
        let dest: Val = decode_dest(&mut self.b, cur)?.into();
        self.b.move_array_element_free_index(map, pos, dest);
        self.b.free_native_registers(&[dest]);
        for _ in 2..=size / 2 {
            let key = self.decode_val(cur)?;
            let pos = self.find_map_pos_or_jump(kept(src_reg), Arg::keep(key), label);
            self.raise_if_map_alloc_failed(kept(pos));
            self.b.free_native_registers(&[key]);
            let dest: Val = decode_dest(&mut self.b, cur)?.into();
            self.b.move_array_element_free_index(map, pos, dest);
            self.b.free_native_registers(&[dest]);
        }
        self.b.free_native_registers(&[r(map), r(src_reg)]);
        Ok(())
    }
}
