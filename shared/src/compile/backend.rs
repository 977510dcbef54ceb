//! The contract between the ISA-independent driver and a target backend (a macro-assembler).
//!
//! Modelled on the reference's backend module interface: the driver walks BEAM instructions and
//! asks the backend for moves, calls to runtime primitives, conditional blocks and branches; the
//! backend owns its native registers and encodings, and emits through an ISA-neutral
//! [`CodeBuffer`](crate::isa::buffer::CodeBuffer) that owns the sink, labels and literal pool.
//!
//! Errors inside the backend are sticky (see [`Backend::error`]): a method that cannot do its job
//! records the error, returns a harmless value, and the driver checks after each instruction.
//! That keeps the code generator as direct as the reference while never panicking on bad input.

/// A native register number; what it names is the ISA's (each backend names its registers in its
/// own module, e.g. `isa::armv6m::names`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Reg(pub u8);

/// A label: a BEAM label number, or a backend-local reference (e.g. a continuation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Label {
    Num(u32),
    Local(u32),
}

/// A value the driver hands to the backend (the reference's `value()` and `arg()` terms).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Val {
    /// An immediate (a term or a raw C integer, whatever the callee expects).
    Imm(i64),
    /// A native register.
    Reg(Reg),
    /// `{x_reg, N}` with N < MAX_REG.
    X(u32),
    /// `{x_reg, extra}`: the register just past the last addressable x register.
    XExtra,
    /// `{y_reg, N}`.
    Y(u32),
    /// `{fp_reg, N}`.
    Fp(u32),
    /// `{ptr, Reg}`: the word that Reg points to.
    Ptr(Reg),
    /// The continuation pointer (only for `move_to_native_register`).
    Cp,
    /// The `Context *` argument.
    Ctx,
    /// The `JITState *` argument.
    JitState,
    /// `jit_state` in a tail call position.
    JitStateTailCall,
    /// The current code offset (for primitives that take the caller's offset).
    Offset,
    /// `stack`: an argument that lives on the native stack.
    Stack,
    /// `{avm_int64_t, V}`: a 64-bit argument passed in two words.
    Int64(i64),
    /// `{ptr, Reg, Offset}`: the word at Reg + Offset words (e.g. a boxed float's payload).
    PtrOffset(Reg, u32),
}

/// An argument: a value, and whether the callee may free the register it lives in (`{free, V}`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Arg {
    pub val: Val,
    pub free: bool,
}

impl Arg {
    pub const fn keep(val: Val) -> Self {
        Arg { val, free: false }
    }
    pub const fn free(val: Val) -> Self {
        Arg { val, free: true }
    }
}

impl From<Val> for Arg {
    fn from(val: Val) -> Self {
        Arg::keep(val)
    }
}

impl From<Reg> for Val {
    fn from(r: Reg) -> Self {
        Val::Reg(r)
    }
}

impl From<Reg> for Arg {
    fn from(r: Reg) -> Self {
        Arg::keep(Val::Reg(r))
    }
}

/// How the left operand of a condition is read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cast {
    /// A full word (`{R, Op, V}`).
    Word,
    /// `'(int)'`: a C int (32 bits; same as Word on 32-bit targets but kept for fidelity).
    Int,
    /// `'(bool)'`: a C bool (low byte); compared against `false` only.
    Bool,
}

/// Comparison operators of conditions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CmpOp {
    Lt,
    Eq,
    Ne,
}

/// A condition for [`Backend::if_block`] (the reference's `condition()`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cond {
    /// `{Lhs, Op, Rhs}` / `{'(int)', Lhs, Op, Rhs}` / `{'(bool)', Lhs, Op, false}`.
    /// Either side may be an immediate or a (maybe freed) register.
    Cmp {
        cast: Cast,
        lhs: Arg,
        op: CmpOp,
        rhs: Arg,
    },
    /// `{Lhs, '&', Mask, Op, Value}`.
    Mask {
        lhs: Arg,
        mask: i64,
        op: CmpOp,
        value: i64,
    },
}

/// Target of [`Backend::call_func_ptr`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FuncPtr {
    /// A function pointer in a register, freed by the call.
    Reg(Reg),
    /// Primitive number N of the native interface table.
    Primitive(u32),
}

/// The first error a backend met. The driver turns it into a compile error naming the
/// instruction being compiled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BackendError {
    /// No native register was free.
    OutOfRegisters,
    /// The driver asked for a combination the backend does not implement.
    Unsupported(&'static str),
    /// A branch or literal is out of the encodable range.
    OutOfRange(&'static str),
    /// The code sink failed.
    Sink(crate::stream::SinkError),
    /// An instruction operand the target encoder rejects (what was wrong, the offending value).
    Encoding { what: &'static str, value: i64 },
    /// The heap refused an allocation.
    OutOfMemory(crate::mem::AllocError),
}

impl From<crate::mem::AllocError> for BackendError {
    fn from(e: crate::mem::AllocError) -> Self {
        BackendError::OutOfMemory(e)
    }
}

impl core::fmt::Display for BackendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BackendError::OutOfRegisters => write!(f, "no native register free"),
            BackendError::Unsupported(what) => write!(f, "backend does not support {what}"),
            BackendError::OutOfRange(what) => write!(f, "{what} out of range"),
            BackendError::Sink(e) => write!(f, "{e}"),
            BackendError::Encoding { what, value } => write!(f, "cannot encode {what} {value}"),
            BackendError::OutOfMemory(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for BackendError {}

/// A macro-assembler for one target. Method names follow the reference's backend interface so the
/// driver reads like the reference; the state is `self` and values come back as return values.
pub trait Backend {
    /// Bytes per word (4 for armv6m).
    const WORD_SIZE: u32;
    /// Whether the target has native division (`div_`/`rem_`).
    const HAS_DIV: bool;

    /// The first sticky error, if any (including the sink's).
    fn error(&self) -> Option<BackendError>;

    /// Whether there is a sticky error: asked after every BEAM instruction, and cheaper than
    /// [`Self::error`] where an `Option<BackendError>` is returned through memory (the device).
    #[inline]
    fn has_error(&self) -> bool {
        self.error().is_some()
    }

    fn offset(&self) -> usize;
    /// Emit pending literal pools and finish the stream.
    fn flush(&mut self);
    /// Emit the jump table for labels 0..=labels_count.
    fn jump_table(&mut self, labels_count: u32);
    /// Patch every remaining branch now that all labels are known.
    fn update_branches(&mut self);
    /// The label-0 stub followed by the labels and lines tables.
    /// `sorted_lines` are (line ref, offset) pairs in the table's order.
    fn return_labels_and_lines(&mut self, sorted_lines: &dyn SortedLines);

    /// Place a label here (aligning with a nop first, as the reference does).
    fn add_label(&mut self, label: Label);
    /// Place a label at an explicit offset.
    fn add_label_at(&mut self, label: Label, offset: usize);

    fn available_regs_count(&self) -> u32;
    fn free_native_registers(&mut self, values: &[Val]);

    fn call_primitive(&mut self, primitive: u32, args: &[Arg]) -> Reg;
    fn call_primitive_last(&mut self, primitive: u32, args: &[Arg]);
    fn call_primitive_with_cp(&mut self, primitive: u32, args: &[Arg]);
    fn call_func_ptr(&mut self, func: FuncPtr, args: &[Arg]) -> Reg;
    fn return_if_not_equal_to_ctx(&mut self, value: Arg);

    fn jump_to_label(&mut self, label: u32);
    fn jump_to_continuation(&mut self, value: Arg);
    fn jump_to_offset(&mut self, offset: usize);

    fn if_block(&mut self, cond: Cond, body: impl FnOnce(&mut Self));
    /// `{'and', Conds}`: the body runs when every condition holds.
    fn if_block_and(&mut self, conds: &[Cond], body: impl FnOnce(&mut Self));
    fn if_else_block(
        &mut self,
        cond: Cond,
        then_body: impl FnOnce(&mut Self),
        else_body: impl FnOnce(&mut Self),
    );

    fn shift_right(&mut self, reg: Arg, shift: u32) -> Reg;
    fn shift_right_arith(&mut self, reg: Arg, shift: u32) -> Reg;
    fn shift_left(&mut self, reg: Arg, shift: u32) -> Reg;

    fn and_(&mut self, reg: Arg, value: Val) -> Reg;
    fn or_(&mut self, reg: Arg, value: Val) -> Reg;
    fn xor_(&mut self, reg: Arg, value: Val) -> Reg;
    fn add(&mut self, reg: Arg, value: Val) -> Reg;
    fn sub(&mut self, reg: Arg, value: Val) -> Reg;
    fn mul(&mut self, reg: Arg, value: Val) -> Reg;
    /// `a = a div b` (truncating) with the native divide instruction. The driver only asks when
    /// [`Backend::HAS_DIV`] is true; a backend without one records an error.
    fn div_(&mut self, a: Reg, b: Reg) -> Reg;
    /// `a = a rem b` with the native divide instruction (see [`Backend::div_`]).
    fn rem_(&mut self, a: Reg, b: Reg) -> Reg;

    fn move_to_vm_register(&mut self, src: Arg, dest: Val);
    fn move_to_native_register(&mut self, src: Val) -> Reg;
    fn move_to_native_register_to(&mut self, src: Val, dest: Reg);
    fn copy_to_native_register(&mut self, src: Val) -> Reg;
    fn move_to_cp(&mut self, src: Val);
    /// `move_array_element(Base, Index, Dest)`: Dest = Base[Index]. Index is Imm or Reg.
    fn move_array_element(&mut self, base: Arg, index: Val, dest: Val);
    /// `move_array_element(Base, {free, IndexReg}, Dest)`: Dest = Base[IndexReg]; the index
    /// register is consumed (the backend may reuse it as scratch).
    fn move_array_element_free_index(&mut self, base: Reg, index: Reg, dest: Val);
    /// `get_array_element(Base, Index)`: a new register holding Base[Index].
    fn get_array_element(&mut self, base: Arg, index: u32) -> Reg;
    /// `move_to_array_element(Src, Base, Index)`: Base[Index] = Src.
    fn move_to_array_element(&mut self, src: Val, base: Reg, index: Val);
    /// `move_to_array_element(Src, Base, Index, Offset)`: Base[Index + Offset] = Src.
    fn move_to_array_element_offset(&mut self, src: Val, base: Reg, index: Val, offset: i64);
    fn set_bs(&mut self, src: Val);

    fn increment_sp(&mut self, words: i64);
    fn set_continuation_to_label(&mut self, label: u32);
    /// Set the continuation to a local label to be placed later with `add_label`.
    fn set_continuation_to_offset(&mut self) -> Label;
    fn continuation_entry_point(&mut self);
    fn get_module_index(&mut self) -> Reg;

    fn decrement_reductions_and_maybe_schedule_next(&mut self);
    fn call_or_schedule_next(&mut self, label: u32);
    fn call_only_or_schedule_next(&mut self, label: u32);
}

/// The lines table as it is emitted: (line ref, code offset) pairs sorted by offset, newest
/// first among equal offsets (the driver's line table, or a slice already in that order).
pub trait SortedLines {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Every entry, in the table's order.
    fn for_each_entry(&self, f: &mut dyn FnMut(u32, u32));
}

impl SortedLines for alloc::vec::Vec<(u32, u32)> {
    fn len(&self) -> usize {
        alloc::vec::Vec::len(self)
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(u32, u32)) {
        for &(line, offset) in self {
            f(line, offset);
        }
    }
}

impl<const N: usize> SortedLines for [(u32, u32); N] {
    fn len(&self) -> usize {
        N
    }
    fn for_each_entry(&self, f: &mut dyn FnMut(u32, u32)) {
        for &(line, offset) in self {
            f(line, offset);
        }
    }
}
