//! The backend calls of the bit-syntax, arithmetic and type-check helpers, recorded by a
//! backend that prints each call, against the calls the reference driver makes for the same
//! inputs (obtained by running the reference's functions with an equivalent recording backend).
//!
//! Every scenario here has a reference trace and is compared call by call; the test fails if a
//! scenario is added without one. (Scenarios that had no reference trace, and so could only fail
//! by panicking, were removed: the golden conformance test and the fuzz targets cover them.)

use super::*;
use crate::beam::JitType;
use crate::compile::arith::*;
use crate::compile::backend::*;
use crate::compile::env::{Import, ModuleEnv};
use crate::compile::helpers::*;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

struct T {
    next: u8,
    log: Vec<String>,
    avail: u32,
}
fn name(r: Reg) -> String {
    match r.0 {
        200 => "ms".into(),
        201 => "bin".into(),
        202 => "off".into(),
        203 => "cb".into(),
        204 => "offreg".into(),
        205 => "flagsreg".into(),
        206 => "sizereg".into(),
        207 => "rr".into(),
        208 => "hs".into(),
        209 => "sz".into(),
        n => format!("r{n}"),
    }
}
fn v(x: Val) -> String {
    match x {
        Val::Imm(n) => n.to_string(),
        Val::Reg(r) => name(r),
        Val::X(n) => format!("x{n}"),
        Val::XExtra => "xextra".into(),
        Val::Y(n) => format!("y{n}"),
        Val::Ptr(r) => format!("ptr({})", name(r)),
        Val::Ctx => "ctx".into(),
        Val::JitState => "jit_state".into(),
        Val::Offset => "offset".into(),
        Val::Int64(n) => format!("int64({n})"),
        o => format!("{o:?}"),
    }
}
fn a(x: Arg) -> String {
    if x.free {
        format!("free({})", v(x.val))
    } else {
        v(x.val)
    }
}
fn l(xs: &[Arg]) -> String {
    format!(
        "[{}]",
        xs.iter().map(|x| a(*x)).collect::<Vec<_>>().join(",")
    )
}
fn op(o: CmpOp) -> &'static str {
    match o {
        CmpOp::Lt => "<",
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
    }
}
fn c(x: Cond) -> String {
    match x {
        Cond::Cmp {
            cast: Cast::Word,
            lhs,
            op: o,
            rhs,
        } => format!("({} {} {})", a(lhs), op(o), a(rhs)),
        Cond::Cmp {
            cast: Cast::Int,
            lhs,
            op: o,
            rhs,
        } => format!("int({} {} {})", a(lhs), op(o), a(rhs)),
        Cond::Cmp {
            cast: Cast::Bool,
            lhs,
            op: o,
            ..
        } => format!("bool({} {} false)", a(lhs), op(o)),
        Cond::Mask {
            lhs,
            mask,
            op: o,
            value,
        } => format!("({} & {} {} {})", a(lhs), mask, op(o), value),
    }
}
impl T {
    fn new(avail: u32) -> Self {
        T {
            next: 0,
            log: Vec::new(),
            avail,
        }
    }
    fn reg(&mut self) -> Reg {
        let r = Reg(self.next);
        self.next = (self.next + 1) % 100;
        r
    }
    fn ret(&mut self, s: String) -> Reg {
        let r = self.reg();
        self.log.push(format!("{s} -> {}", name(r)));
        r
    }
    fn inplace(&mut self, n: &str, r: Arg, x: String) -> Reg {
        match r {
            Arg {
                val: Val::Reg(reg),
                free: true,
            } => {
                self.log
                    .push(format!("{n} free({}) {x} -> {}", name(reg), name(reg)));
                reg
            }
            _ => self.ret(format!("{n} {} {x}", a(r))),
        }
    }
    fn simple(&mut self, n: &str, r: Arg, x: String) -> Reg {
        self.log.push(format!("{n} {} {x}", a(r)));
        Reg(99)
    }
}
impl Backend for T {
    const WORD_SIZE: u32 = 4;
    /// As armv6m: the traces are the reference's armv6m backend calls.
    const HAS_DIV: bool = false;
    fn error(&self) -> Option<BackendError> {
        None
    }
    fn offset(&self) -> usize {
        0
    }
    fn flush(&mut self) {}
    fn jump_table(&mut self, _: u32) {}
    fn update_branches(&mut self) {}
    fn return_labels_and_lines(&mut self, _: &dyn crate::compile::SortedLines) {}
    fn add_label(&mut self, _: Label) {}
    fn add_label_at(&mut self, _: Label, _: usize) {}
    fn available_regs_count(&self) -> u32 {
        self.avail
    }
    fn free_native_registers(&mut self, xs: &[Val]) {
        self.log.push(format!(
            "free [{}]",
            xs.iter().map(|x| v(*x)).collect::<Vec<_>>().join(",")
        ))
    }
    fn call_primitive(&mut self, p: u32, args: &[Arg]) -> Reg {
        self.ret(format!("call_primitive {p} {}", l(args)))
    }
    fn call_primitive_last(&mut self, p: u32, args: &[Arg]) {
        self.log
            .push(format!("call_primitive_last {p} {}", l(args)))
    }
    fn call_primitive_with_cp(&mut self, _: u32, _: &[Arg]) {
        unimplemented!()
    }
    fn call_func_ptr(&mut self, f: FuncPtr, args: &[Arg]) -> Reg {
        let fs = match f {
            FuncPtr::Reg(r) => format!("free({})", name(r)),
            FuncPtr::Primitive(n) => format!("prim({n})"),
        };
        self.ret(format!("call_func_ptr {fs} {}", l(args)))
    }
    fn return_if_not_equal_to_ctx(&mut self, _: Arg) {
        unimplemented!()
    }
    fn jump_to_label(&mut self, lbl: u32) {
        self.log.push(format!("jump_to_label {lbl}"))
    }
    fn jump_to_continuation(&mut self, _: Arg) {
        unimplemented!()
    }
    fn jump_to_offset(&mut self, _: usize) {
        unimplemented!()
    }
    fn if_block(&mut self, cond: Cond, body: impl FnOnce(&mut Self)) {
        self.log.push(format!("if {} {{", c(cond)));
        body(self);
        self.log.push("}".into())
    }
    fn if_block_and(&mut self, conds: &[Cond], body: impl FnOnce(&mut Self)) {
        self.log.push(format!(
            "if and[{}] {{",
            conds.iter().map(|x| c(*x)).collect::<Vec<_>>().join(",")
        ));
        body(self);
        self.log.push("}".into())
    }
    fn if_else_block(&mut self, cond: Cond, t: impl FnOnce(&mut Self), e: impl FnOnce(&mut Self)) {
        self.log.push(format!("if {} {{", c(cond)));
        t(self);
        self.log.push("} else {".into());
        e(self);
        self.log.push("}".into())
    }
    fn shift_right(&mut self, r: Arg, s: u32) -> Reg {
        self.inplace("shift_right", r, s.to_string())
    }
    fn shift_right_arith(&mut self, r: Arg, s: u32) -> Reg {
        self.inplace("shift_right_arith", r, s.to_string())
    }
    fn shift_left(&mut self, r: Arg, s: u32) -> Reg {
        self.simple("shift_left", r, s.to_string())
    }
    fn and_(&mut self, r: Arg, x: Val) -> Reg {
        self.inplace("and", r, v(x))
    }
    fn or_(&mut self, r: Arg, x: Val) -> Reg {
        self.simple("or", r, v(x))
    }
    fn xor_(&mut self, r: Arg, x: Val) -> Reg {
        self.simple("xor", r, v(x))
    }
    fn add(&mut self, r: Arg, x: Val) -> Reg {
        self.simple("add", r, v(x))
    }
    fn sub(&mut self, r: Arg, x: Val) -> Reg {
        self.simple("sub", r, v(x))
    }
    fn mul(&mut self, r: Arg, x: Val) -> Reg {
        self.simple("mul", r, v(x))
    }
    fn div_(&mut self, a: Reg, b: Reg) -> Reg {
        self.log.push(format!("div {} {}", name(a), name(b)));
        a
    }
    fn rem_(&mut self, a: Reg, b: Reg) -> Reg {
        self.log.push(format!("rem {} {}", name(a), name(b)));
        a
    }
    fn move_to_vm_register(&mut self, s: Arg, d: Val) {
        self.log.push(format!("move_to_vm {} {}", a(s), v(d)))
    }
    fn move_to_native_register(&mut self, s: Val) -> Reg {
        if let Val::Reg(r) = s {
            self.log
                .push(format!("move_to_native {} -> {}", name(r), name(r)));
            return r;
        }
        self.ret(format!("move_to_native {}", v(s)))
    }
    fn move_to_native_register_to(&mut self, s: Val, d: Reg) {
        self.log
            .push(format!("move_to_native_to {} {}", v(s), name(d)))
    }
    fn copy_to_native_register(&mut self, s: Val) -> Reg {
        self.ret(format!("copy_to_native {}", v(s)))
    }
    fn move_to_cp(&mut self, _: Val) {
        unimplemented!()
    }
    fn move_array_element(&mut self, b: Arg, i: Val, d: Val) {
        self.log
            .push(format!("move_array_element {} {} {}", a(b), v(i), v(d)))
    }
    fn move_array_element_free_index(&mut self, _: Reg, _: Reg, _: Val) {
        unimplemented!()
    }
    fn get_array_element(&mut self, b: Arg, i: u32) -> Reg {
        self.ret(format!("get_array_element {} {i}", a(b)))
    }
    fn move_to_array_element(&mut self, s: Val, b: Reg, i: Val) {
        self.log.push(format!(
            "move_to_array_element {} {} {}",
            v(s),
            name(b),
            v(i)
        ))
    }
    fn move_to_array_element_offset(&mut self, s: Val, b: Reg, i: Val, o: i64) {
        self.log.push(format!(
            "move_to_array_element {} {} {} {o}",
            v(s),
            name(b),
            v(i)
        ))
    }
    fn set_bs(&mut self, _: Val) {
        unimplemented!()
    }
    fn increment_sp(&mut self, _: i64) {
        unimplemented!()
    }
    fn set_continuation_to_label(&mut self, _: u32) {
        unimplemented!()
    }
    fn set_continuation_to_offset(&mut self) -> Label {
        unimplemented!()
    }
    fn continuation_entry_point(&mut self) {
        unimplemented!()
    }
    fn get_module_index(&mut self) -> Reg {
        self.ret("get_module_index".into())
    }
    fn decrement_reductions_and_maybe_schedule_next(&mut self) {
        unimplemented!()
    }
    fn call_or_schedule_next(&mut self, _: u32) {
        unimplemented!()
    }
    fn call_only_or_schedule_next(&mut self, _: u32) {
        unimplemented!()
    }
}

struct Env;
const ATOMS: [&[u8]; 7] = [
    b"ensure_at_least",
    b"ensure_exactly",
    b"integer",
    b"binary",
    b"get_tail",
    b"=:=",
    b"skip",
];
const FLAGS: [u8; 23] = [
    131, 108, 0, 0, 0, 2, 119, 6, b'l', b'i', b't', b't', b'l', b'e', 119, 6, b's', b'i', b'g',
    b'n', b'e', b'd', 106,
];
impl ModuleEnv for Env {
    fn atom(&self, i: u32) -> Option<&[u8]> {
        ATOMS.get(i.checked_sub(1)? as usize).copied()
    }
    fn literal(&self, i: u32) -> Option<&[u8]> {
        (i == 0).then_some(&FLAGS[..])
    }
    fn import(&self, _: u32) -> Option<Import> {
        None
    }
    fn jit_type(&self, _: u32) -> JitType {
        JitType::Any
    }
}

const ALL: i64 = ALL_ATOM;
const NIL: i64 = TERM_NIL;
fn t(i: i64) -> Operand {
    Operand::Imm((i << 4) | 15)
}
fn rg(n: u8) -> Reg {
    Reg(n)
}
const MS: Reg = Reg(200);
const BIN: Reg = Reg(201);
const OFF: Reg = Reg(202);
const CB: Reg = Reg(203);
const OFFREG: Reg = Reg(204);
const FLAGSREG: Reg = Reg(205);
const RR: Reg = Reg(207);
const SZ: Reg = Reg(209);
fn ti(lo: Option<i64>, hi: i64) -> Operand {
    Operand::Typed(Dest::X(1), JitType::Integer { lo, hi: Some(hi) })
}
fn ti2(lo: i64, hi: i64) -> Operand {
    Operand::Typed(
        Dest::Y(2),
        JitType::Integer {
            lo: Some(lo),
            hi: Some(hi),
        },
    )
}
fn x(n: u32) -> Operand {
    Operand::X(n)
}

type Scenario = std::boxed::Box<dyn Fn(&mut T) -> crate::Result<String>>;
type Sc = (&'static str, Scenario);
fn opt(r: Option<Reg>) -> String {
    r.map_or("none".into(), name)
}

#[test]
fn backend_calls_match_the_reference() {
    use SegmentType as S;
    let cs = |ty, src, size, unit, fail, lit, acc: Option<Reg>| -> Scenario {
        std::boxed::Box::new(move |b: &mut T| {
            let (l, r) =
                first_pass_bs_create_bin_compute_size(b, ty, src, size, unit, fail, lit, acc)?;
            Ok(format!("{l} {}", opt(r)))
        })
    };
    let iv = |ty, flags, src, size, unit, fail, bin, off| -> Scenario {
        std::boxed::Box::new(move |b: &mut T| {
            let (o, cbr) = first_pass_bs_create_bin_insert_value(
                b, ty, flags, src, size, unit, fail, bin, off,
            )?;
            Ok(format!(
                "{} {}",
                v(o),
                match cbr {
                    CreatedBin::Reg(r) => name(r),
                    _ => "pa".into(),
                }
            ))
        })
    };
    let io = |off, size, unit| -> Scenario {
        std::boxed::Box::new(move |b: &mut T| Ok(v(increment_offset(b, off, size, unit)?)))
    };
    let g2 = |f: &'static [u8], a1, a2| -> Scenario {
        std::boxed::Box::new(move |b: &mut T| {
            op_gc_bif2(b, 7, 3, 12, b"erlang", f, a1, a2, Dest::X(5))?;
            Ok(String::new())
        })
    };
    fn bx(f: impl Fn(&mut T) -> crate::Result<String> + 'static) -> Scenario {
        std::boxed::Box::new(f)
    }
    let imm = Operand::Imm;
    let sc: Vec<Sc> = std::vec![
        (
            "cs_int_reg_acc",
            cs(S::Integer, t(5), Operand::Y(1), 8, 6, 8, Some(rg(50)))
        ),
        (
            "cs_bin_reg",
            cs(S::PrivateAppend, x(0), x(1), 8, 0, 8, None)
        ),
        ("cs_other", cs(S::Other, x(0), x(1), 1, 4, 8, Some(rg(50)))),
        (
            "iv_utf32",
            iv(
                S::Utf32,
                Operand::Reg(FLAGSREG),
                x(0),
                imm(0),
                1,
                0,
                CreatedBin::Reg(CB),
                Val::Reg(OFFREG)
            )
        ),
        (
            "iv_int_reg",
            iv(
                S::Integer,
                imm(NIL),
                x(0),
                x(1),
                8,
                4,
                CreatedBin::Reg(CB),
                Val::Reg(OFFREG)
            )
        ),
        (
            "iv_pa",
            iv(
                S::PrivateAppend,
                imm(NIL),
                x(0),
                imm(ALL),
                8,
                0,
                CreatedBin::PrivateAppend(Val::Imm(12)),
                Val::Imm(0)
            )
        ),
        (
            "iv_bin_u8",
            iv(
                S::Binary,
                imm(NIL),
                x(0),
                x(1),
                8,
                0,
                CreatedBin::Reg(CB),
                Val::Reg(OFFREG)
            )
        ),
        ("io_7", io(Val::Reg(OFF), Val::Reg(SZ), 8)),
        (
            "dgt_reg",
            bx(|b| {
                let (r, m) = do_get_tail(b, Val::Reg(MS), 20, OFF, BIN)?;
                Ok(format!("{} {}", name(r), v(m)))
            })
        ),
    ];
    let bm: Vec<(&str, u32, u32, Vec<u8>)> = std::vec![
        ("bm_eal", 3, 3, std::vec![0x12, 0x80, 0x40, 0x80, 0x40]),
        (
            "bm_int_noregs",
            0,
            6,
            std::vec![0x32, 0x10, 0x47, 0x00, 0x81, 0x10, 0x13]
        ),
        (
            "bm_bin",
            3,
            6,
            std::vec![0x42, 0x20, 0x02, 0x40, 0x80, 0x33]
        ),
        ("bm_tail", 3, 4, std::vec![0x52, 0x30, 0x80, 0x43]),
        (
            "bm_eq_big",
            3,
            4,
            std::vec![0x62, 0x02, 0x08, 0x20, 0x58, 0x12, 0x34, 0x56, 0x78]
        ),
    ];
    let tail: Vec<Sc> = std::vec![
        ("g2_add_ti", g2(b"+", ti(Some(0), 10), t(3))),
        ("g2_mul_tt", g2(b"*", ti(Some(0), 10), ti2(0, 10))),
        ("g2_div_pow2", g2(b"div", ti(Some(0), 100), t(8))),
        ("g2_rem_pow2", g2(b"rem", ti(Some(0), 100), t(8))),
        ("g2_bsr_2", g2(b"bsr", ti(Some(0), 100), t(2))),
        (
            "g2_def_t2",
            g2(b"-", x(1), Operand::Typed(Dest::X(2), JitType::Any))
        ),
        (
            "g1_bs",
            bx(|b| {
                op_gc_bif1(
                    b,
                    0,
                    2,
                    9,
                    b"erlang",
                    b"byte_size",
                    Operand::Typed(Dest::X(0), JitType::BsMatchable { unit: 8 }),
                    Dest::X(1),
                )?;
                Ok(String::new())
            })
        ),
        (
            "ge_imm_typed",
            bx(|b| {
                op_is_ge(b, 4, t(5), ti(Some(0), 9))?;
                Ok(String::new())
            })
        ),
        (
            "ge_default",
            bx(|b| {
                op_is_ge(b, 4, Operand::Typed(Dest::X(0), JitType::Any), x(1))?;
                Ok(String::new())
            })
        ),
        (
            "vf_other",
            bx(|b| Ok(name(verify_is_function(
                b,
                Operand::Typed(Dest::X(0), JitType::Tuple)
            )?)))
        ),
        (
            "vbms0",
            bx(|b| {
                verify_is_binary_or_match_state(b, 0, Val::Y(0));
                Ok(String::new())
            })
        ),
        (
            "vib_free",
            bx(|b| {
                verify_is_any_integer(b, Arg::free(Val::X(0)), 6);
                Ok(String::new())
            })
        ),
        (
            "tti_typed_other",
            bx(|b| Ok(v(term_to_int(
                b,
                Operand::Typed(Dest::X(1), JitType::Any),
                4
            )?)))
        ),
        (
            "mef_reg_extra",
            bx(|b| Ok(v(memory_ensure_free_with_extra_root(
                b,
                Val::Reg(RR),
                16,
                Arg::keep(Val::Imm(4))
            )?)))
        ),
        (
            "mef_y",
            bx(|b| Ok(v(memory_ensure_free_with_extra_root(
                b,
                Val::Y(0),
                2,
                Arg::keep(Val::Imm(4))
            )?)))
        ),
        (
            "tabms",
            bx(|b| Ok(v(term_alloc_bin_match_state(b, 2, Val::X(0), Dest::X(1))?)))
        ),
        (
            "tfcl",
            bx(|b| {
                term_from_catch_label(b, Dest::Y(1), 12);
                Ok(String::new())
            })
        ),
    ];
    let fuse: Vec<(&str, Vec<u8>, Operand)> = std::vec![
        (
            "fuse",
            std::vec![
                58, 0x35, 0x03, 0x20, 66, 0x03, 0x00, 0x13, 66, 0x03, 0x10, 0x23, 66, 0x13, 0x00,
                0x33, 1
            ],
            x(0)
        ),
        (
            "fuse_overwrite",
            std::vec![58, 0x35, 0x03, 0x20, 66, 0x03, 0x00, 0x03, 66, 0x03, 0x10, 0x23, 1],
            x(0)
        ),
        (
            "fuse_other_arg",
            std::vec![58, 0x35, 0x13, 0x20, 66, 0x03, 0x00, 0x13],
            x(0)
        ),
    ];
    let mut out = String::new();
    let mut emit = |nm: &str, log: &[String], res: crate::Result<String>| {
        out.push_str(&format!("== {nm}\n"));
        match res {
            Ok(r) => {
                for line in log {
                    out.push_str(line);
                    out.push('\n');
                }
                out.push_str(&format!("=> {r}\n"));
            }
            Err(_) => out.push_str("=> crash error\n"),
        }
    };
    for (nm, f) in &sc {
        let mut b = T::new(3);
        let r = f(&mut b);
        emit(nm, &b.log, r);
    }
    for (nm, avail, count, bytes) in &bm {
        let env = Env;
        let mut d = Driver::new(T::new(*avail), &env, 10);
        let mut cur = Cursor::new(bytes, 0);
        let r = d
            .first_pass_bs_match(9, MS, BIN, OFF, *count, &mut cur)
            .map(|(m, o)| format!("{} {} rest {}", name(m), name(o), cur.remaining().len()));
        emit(nm, &d.b.log, r);
    }
    for (nm, f) in &tail {
        let mut b = T::new(3);
        let r = f(&mut b);
        emit(nm, &b.log, r);
    }
    for (nm, bytes, arg) in &fuse {
        let env = Env;
        let mut d = Driver::new(T::new(1), &env, 10);
        let mut cur = Cursor::new(bytes, 0);
        let r = d.try_fuse_tuple_ops(&mut cur, *arg, 2).map(|f| {
            if f {
                format!("fused rest {}", cur.remaining().len())
            } else {
                "not_fused".into()
            }
        });
        let log = if matches!(r, Ok(ref s) if s == "not_fused") {
            Vec::new()
        } else {
            core::mem::take(&mut d.b.log)
        };
        emit(nm, &log, r);
    }
    let got = scenario_blocks(&out);
    let expected = scenario_blocks(EXPECTED);
    let unchecked: Vec<&str> = got
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !expected.iter().any(|(e, _)| e == n))
        .collect();
    assert!(unchecked.is_empty(), "UNCHECKED {}", unchecked.join(" "));
    for (name, block) in expected {
        let actual = got
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.as_str());
        assert_eq!(actual, Some(block.as_str()), "scenario {name}");
    }
}

/// (name, calls and result) of each `== name` block.
fn scenario_blocks(text: &str) -> Vec<(&str, String)> {
    let mut blocks: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            blocks.push((name, String::new()));
        } else if let Some((_, block)) = blocks.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

/// Reference call traces, one block per scenario.
const EXPECTED: &str = r#"== cs_int_reg_acc
copy_to_native y1 -> r0
if (free(r0) & 15 != 15) {
jump_to_label 6
}
move_to_native y1 -> r1
if (r1 & 15 != 15) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
shift_right free(r1) 4 -> r1
if (r1 < 0) {
jump_to_label 6
}
mul r1 8
add r50 r1
free [r1]
=> 8 r50
== cs_bin_reg
copy_to_native x0 -> r0
if (r0 & 3 != 2) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
and free(r0) -4 -> r0
move_array_element r0 0 r0
and free(r0) 63 -> r0
if and[(r0 != 32),(r0 != 36),(r0 != 40)] {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
free [r0]
copy_to_native x1 -> r1
copy_to_native x0 -> r2
and free(r2) -4 -> r2
move_array_element r2 1 r2
shift_left r2 3
if (free(r1) != 971) {
move_to_native x1 -> r3
if (r3 & 15 != 15) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
shift_right free(r3) 4 -> r3
if (r3 < 0) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
mul r3 8
if (r2 < r3) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
move_to_native_to r3 r2
free [r3]
}
=> 8 r2
== cs_other
=> crash error
== iv_utf32
call_primitive 53 [ctx,jit_state,flagsreg] -> r0
if (r0 < 0) {
call_primitive_last 6 [ctx,jit_state,offset]
}
move_to_native x0 -> r1
if (r1 & 15 != 15) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
shift_right free(r1) 4 -> r1
call_primitive 56 [cb,offreg,free(r1),free(r0)] -> r2
if bool(free(r2) == false) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
add offreg 32
=> offreg cb
== iv_int_reg
move_to_native x1 -> r0
if (r0 & 15 != 15) {
jump_to_label 4
}
shift_right free(r0) 4 -> r0
move_to_native x0 -> r1
call_primitive 53 [ctx,jit_state,59] -> r2
if (r2 < 0) {
call_primitive_last 6 [ctx,jit_state,offset]
}
mul r0 8
call_primitive 57 [cb,offreg,free(r1),r0,free(r2)] -> r3
if bool(free(r3) == false) {
jump_to_label 4
}
add offreg r0
free [r0]
=> offreg cb
== iv_pa
move_to_native x0 -> r0
and free(r0) -4 -> r0
move_array_element r0 1 r0
call_primitive 72 [ctx,free(x0),free(12)] -> r1
if (r1 == 0) {
call_primitive_last 0 [ctx,jit_state,offset,587]
}
shift_left r0 3
=> r0 r1
== iv_bin_u8
move_to_native x1 -> r0
if (r0 & 15 != 15) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
shift_right free(r0) 4 -> r0
mul r0 8
shift_left r0 4
or r0 15
call_primitive 59 [ctx,jit_state,cb,offreg,x0,free(r0)] -> r1
if (r1 < 0) {
call_primitive_last 6 [ctx,jit_state,offset]
}
add offreg r1
free [r1]
=> offreg cb
== io_7
shift_left sz 3
add off sz
free [sz]
=> off
== dgt_reg
if (off & 7 != 0) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
shift_right off 3 -> r0
get_array_element bin 1 -> r1
sub r1 r0
call_primitive 47 [bin,free(r1)] -> r2
move_to_vm ms xextra
free [ms]
call_primitive 44 [ctx,jit_state,free(r2),21,1] -> r3
if bool(free(r3) == false) {
call_primitive_last 6 [ctx,jit_state,offset]
}
move_to_native xextra -> r4
copy_to_native r4 -> r5
and free(r5) -4 -> r5
move_array_element r5 1 bin
free [r5]
and free(bin) -4 -> bin
get_array_element bin 1 -> r6
sub r6 r0
add bin 2
call_primitive 48 [ctx,bin,free(r0),free(r6)] -> r7
=> r7 r4
== bm_eal
get_array_element bin 1 -> r0
shift_left r0 3
sub r0 off
if (r0 < 8) {
jump_to_label 9
}
sub r0 8
and free(r0) 3 -> r0
if (free(r0) != 0) {
jump_to_label 9
}
and ms -4 -> r1
move_to_array_element off r1 2
free [r1]
=> ms off rest 2
== bm_int_noregs
call_primitive 46 [ctx,jit_state,bin,off,8,free(6)] -> r0
if (r0 == 0) {
call_primitive_last 6 [ctx,jit_state,offset]
}
if (r0 == 11) {
jump_to_label 9
}
free [off]
move_to_vm r0 x1
free [r0,x1]
and free(ms) -4 -> ms
get_array_element ms 2 -> r1
or ms 2
add r1 8
free [8]
and ms -4 -> r2
move_to_array_element r1 r2 2
free [r2]
=> ms r1 rest 0
== bm_bin
if (off & 7 != 0) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
shift_right off 3 -> r0
get_array_element bin 1 -> r1
sub r1 r0
if (r1 < 4) {
jump_to_label 9
}
free [r1]
call_primitive 47 [bin,4] -> r2
move_to_vm ms x2
free [ms]
call_primitive 44 [ctx,jit_state,free(r2),3,1] -> r3
if bool(free(r3) == false) {
call_primitive_last 6 [ctx,jit_state,offset]
}
move_to_native x2 -> r4
copy_to_native r4 -> r5
and free(r5) -4 -> r5
move_array_element r5 1 bin
free [r5]
call_primitive 48 [ctx,bin,free(r0),4] -> r6
and free(bin) -4 -> bin
move_to_vm r6 x3
free [r6]
add off 32
and r4 -4 -> r7
move_to_array_element off r7 2
free [r7]
=> r4 off rest 0
== bm_tail
if (off & 7 != 0) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
shift_right off 3 -> r0
get_array_element bin 1 -> r1
sub r1 r0
call_primitive 47 [bin,free(r1)] -> r2
move_to_vm ms x3
free [ms]
call_primitive 44 [ctx,jit_state,free(r2),4,1] -> r3
if bool(free(r3) == false) {
call_primitive_last 6 [ctx,jit_state,offset]
}
move_to_native x3 -> r4
copy_to_native r4 -> r5
and free(r5) -4 -> r5
move_array_element r5 1 bin
free [r5]
and free(bin) -4 -> bin
get_array_element bin 1 -> r6
sub r6 r0
add bin 2
call_primitive 48 [ctx,bin,free(r0),free(r6)] -> r7
move_to_vm r7 x4
free [r7,x4]
and r4 -4 -> r8
move_to_array_element off r8 2
free [r8]
=> r4 off rest 0
== bm_eq_big
call_primitive 46 [ctx,jit_state,bin,off,32,0] -> r0
if (r0 == 0) {
call_primitive_last 6 [ctx,jit_state,offset]
}
if (r0 == 11) {
jump_to_label 9
}
and free(r0) -4 -> r0
get_array_element free(r0) 1 -> r1
if (free(r1) != 305419896) {
jump_to_label 9
}
add off 32
and ms -4 -> r2
move_to_array_element off r2 2
free [r2]
=> ms off rest 0
== g1_bs
move_to_native x0 -> r0
and free(r0) -4 -> r0
move_array_element r0 1 r0
shift_left r0 4
or r0 15
move_to_vm r0 x1
free [r0,x1]
=> 
== g2_add_ti
move_to_native x1 -> r0
add r0 48
move_to_vm r0 x5
free [r0,x5]
=> 
== g2_mul_tt
move_to_native x1 -> r0
move_to_native y2 -> r1
and free(r0) -16 -> r0
shift_right free(r1) 4 -> r1
mul r0 r1
or r0 15
move_to_vm r0 x5
free [r0,r1,x5]
=> 
== g2_div_pow2
move_to_native x1 -> r0
shift_right_arith free(r0) 7 -> r0
shift_left r0 4
or r0 15
move_to_vm r0 x5
free [r0,x5]
=> 
== g2_rem_pow2
move_to_native x1 -> r0
and free(r0) 127 -> r0
move_to_vm r0 x5
free [r0,x5]
=> 
== g2_bsr_2
move_to_native x1 -> r0
shift_right free(r0) 6 -> r0
shift_left r0 4
or r0 15
move_to_vm r0 x5
free [r0,x5]
=> 
== g2_def_t2
call_primitive 7 [ctx,3] -> r0
free [r0]
call_primitive 8 [jit_state,12] -> r1
call_func_ptr free(r1) [ctx,7,3,free(x1),free(x2)] -> r2
if (r2 == 0) {
jump_to_label 7
}
move_to_vm r2 x5
free [r2,x5]
=> 
== ge_imm_typed
move_to_native x1 -> r0
if (r0 & 15 != 15) {
and r0 -4 -> r1
move_array_element r1 0 r1
and free(r1) 63 -> r1
if (free(r1) == 8) {
jump_to_label 4
}
move_to_native_to 95 r0
}
if (95 < free(r0)) {
jump_to_label 4
}
=> 
== ge_default
call_primitive 11 [ctx,jit_state,free(x0),free(x1),0] -> r0
if int(r0 == 0) {
call_primitive_last 6 [ctx,jit_state,offset]
}
if int(free(r0) == 2) {
jump_to_label 4
}
=> 
== vf_other
move_to_native x0 -> r0
call_primitive_last 19 [ctx,jit_state,offset,395,r0]
=> r0
== vbms0
copy_to_native y0 -> r0
if (r0 & 3 != 2) {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
and free(r0) -4 -> r0
move_array_element r0 0 r0
and free(r0) 63 -> r0
if and[(r0 != 32),(r0 != 36),(r0 != 40),(r0 != 4)] {
call_primitive_last 0 [ctx,jit_state,offset,267]
}
free [r0]
=> 
== vib_free
move_to_native x0 -> r0
if (r0 & 15 != 15) {
if (r0 & 3 != 2) {
jump_to_label 6
}
and free(r0) -4 -> r0
move_array_element r0 0 r0
if (free(r0) & 59 != 8) {
jump_to_label 6
}
}
free [r0]
=> 
== tti_typed_other
move_to_native x1 -> r0
if (r0 & 15 != 15) {
jump_to_label 4
}
shift_right free(r0) 4 -> r0
=> r0
== mef_reg_extra
move_to_vm rr xextra
free [rr]
call_primitive 44 [ctx,jit_state,4,17,1] -> r0
if bool(free(r0) == false) {
call_primitive_last 6 [ctx,jit_state,offset]
}
move_to_native xextra -> r1
=> r1
== mef_y
move_to_vm y0 x2
call_primitive 44 [ctx,jit_state,4,3,1] -> r0
if bool(free(r0) == false) {
call_primitive_last 6 [ctx,jit_state,offset]
}
move_to_vm x2 y0
=> y0
== tabms
call_primitive 7 [ctx,2] -> r0
free [r0]
call_primitive 44 [ctx,jit_state,4,2,1] -> r1
if bool(free(r1) == false) {
call_primitive_last 6 [ctx,jit_state,offset]
}
call_primitive 45 [ctx,x0,0] -> r2
move_to_vm r2 x1
free [r2]
=> x0
== tfcl
get_module_index -> r0
shift_left r0 24
or r0 795
move_to_vm r0 y1
free [r0,y1]
=> 
== fuse
move_to_native x0 -> r0
if (r0 & 3 != 2) {
jump_to_label 2
}
and free(r0) -4 -> r0
get_array_element r0 0 -> r1
if (r1 & 63 != 0) {
jump_to_label 2
}
shift_right free(r1) 6 -> r1
if (free(r1) != 2) {
jump_to_label 3
}
move_array_element r0 1 x1
free [x1]
move_array_element r0 2 x2
free [x2]
free [r0]
=> fused rest 5
== fuse_overwrite
move_to_native x0 -> r0
if (r0 & 3 != 2) {
jump_to_label 2
}
and free(r0) -4 -> r0
get_array_element r0 0 -> r1
if (r1 & 63 != 0) {
jump_to_label 2
}
shift_right free(r1) 6 -> r1
if (free(r1) != 2) {
jump_to_label 3
}
move_array_element r0 1 x0
free [x0]
free [r0]
=> fused rest 5
== fuse_other_arg
=> not_fused
"#;
