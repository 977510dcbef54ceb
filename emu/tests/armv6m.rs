//! The emulator core runs ARMv6-M Thumb as the architecture defines it: flags, shifts by
//! register, extends, signed loads, multiple loads/stores, calls and conditions. Each expected
//! value below is worked out by hand from the ARMv6-M Architecture Reference Manual.

mod common;

use avm_jit_emu::Stop;
use common::{assemble, load};

const OUT: u32 = 0x2002_0000;

const PROGRAM: &str = r#"
    .macro out reg
    str \reg, [r7]
    adds r7, #4
    .endm
main:
    ldr r7, =0x20020000
    ldr r0, =0x7fffffff
    movs r1, #1
    adds r0, r0, r1
    mrs r2, apsr
    out r0
    out r2
    movs r0, #0
    subs r0, r0, #1
    mrs r2, apsr
    out r0
    out r2
    movs r0, #5
    cmp r0, #5
    mrs r2, apsr
    out r2
    cmp r0, #5
    movs r0, #2
    movs r1, #3
    adcs r0, r1
    out r0
    movs r0, #0
    adds r0, #0
    movs r0, #10
    movs r1, #3
    sbcs r0, r1
    out r0
    movs r0, #1
    movs r1, #32
    lsls r0, r1
    mrs r2, apsr
    out r0
    out r2
    ldr r0, =0xffffffff
    movs r1, #33
    lsrs r0, r1
    mrs r2, apsr
    out r0
    out r2
    ldr r0, =0x80000000
    asrs r0, r0, #31
    out r0
    ldr r0, =0x80000000
    movs r1, #40
    asrs r0, r1
    mrs r2, apsr
    out r0
    out r2
    ldr r0, =0x12345678
    movs r1, #8
    rors r0, r1
    out r0
    ldr r0, =0x10001
    mov r1, r0
    muls r0, r1
    out r0
    ldr r0, =0x12345678
    rev r1, r0
    out r1
    rev16 r1, r0
    out r1
    ldr r0, =0x000080ff
    revsh r1, r0
    out r1
    b 9f
    .ltorg
9:
    ldr r0, =0x12345680
    sxtb r1, r0
    out r1
    ldr r0, =0x12348000
    sxth r1, r0
    out r1
    ldr r0, =0x123456ff
    uxtb r1, r0
    out r1
    uxth r1, r0
    out r1
    ldr r6, =0x20021000
    ldr r0, =0x8081
    strh r0, [r6]
    movs r1, #0
    ldrsb r2, [r6, r1]
    out r2
    ldrsh r2, [r6, r1]
    out r2
    ldrb r2, [r6, #1]
    out r2
    movs r0, #1
    movs r1, #2
    movs r2, #3
    stmia r6!, {r0-r2}
    ldr r3, =0x2002100c
    subs r3, r6, r3
    out r3
    subs r6, #12
    ldmia r6!, {r3-r5}
    adds r3, r3, r4
    adds r3, r3, r5
    out r3
    movs r0, #20
    bl twice_plus_one
    out r0
    ldr r3, =twice_plus_one
    blx r3
    out r0
    movs r5, #0
    movs r0, #0
    subs r0, #1
    cmp r0, #1
    bge 1f
    adds r5, #1
1:  cmp r0, #1
    bls 2f
    adds r5, #2
2:  cmp r0, #1
    bhi 3f
    adds r5, #64
3:  cmp r0, #1
    blt 4f
    adds r5, #128
4:  out r5
    ldr r0, =0xf0f0f0f0
    mvns r1, r0
    out r1
    ldr r1, =0xff00ff00
    mov r2, r0
    bics r2, r1
    out r2
    mov r2, r0
    orrs r2, r1
    out r2
    mov r2, r0
    eors r2, r1
    out r2
    mov r2, r0
    ands r2, r1
    out r2
    movs r3, #5
    rsbs r3, r3, #0
    out r3
    tst r0, r1
    mrs r2, apsr
    out r2
    ldr r3, =0x80000000
    cmn r3, r3
    mrs r2, apsr
    out r2
    mov r4, sp
    sub sp, #16
    add r3, sp, #8
    subs r3, r4, r3
    out r3
    add sp, #16
    mov r3, sp
    subs r3, r4, r3
    out r3
    adr r3, aligned_word
    ldr r3, [r3]
    out r3
    ldr r0, =0x80000000
    asrs r0, r0, #32
    mrs r2, apsr
    out r0
    out r2
    ldr r0, =0x80000001
    movs r1, #32
    rors r0, r1
    mrs r2, apsr
    out r0
    out r2
    movs r0, #3
    movs r1, #33
    rors r0, r1
    out r0
    mov r0, r7
    bkpt #0
    .thumb_func
twice_plus_one:
    push {r4, lr}
    lsls r0, r0, #1
    adds r0, #1
    pop {r4, pc}
    .align 2
aligned_word:
    .word 0xcafef00d
"#;

const EXPECTED: [(u32, &str); 47] = [
    (0x8000_0000, "adds 0x7fffffff + 1"),
    (0x9000_0000, "adds flags N V"),
    (0xffff_ffff, "subs 0 - 1"),
    (0x8000_0000, "subs flags N (borrow: C clear)"),
    (0x6000_0000, "cmp equal flags Z C"),
    (6, "adcs 2 + 3 + C"),
    (6, "sbcs 10 - 3 - !C"),
    (0, "lsls by 32"),
    (0x6000_0000, "lsls by 32 flags Z C"),
    (0, "lsrs by 33"),
    (0x4000_0000, "lsrs by 33 flags Z"),
    (0xffff_ffff, "asrs #31"),
    (0xffff_ffff, "asrs by 40"),
    (0xa000_0000, "asrs by 40 flags N C"),
    (0x7812_3456, "rors by 8"),
    (0x0002_0001, "muls"),
    (0x7856_3412, "rev"),
    (0x3412_7856, "rev16"),
    (0xffff_ff80, "revsh"),
    (0xffff_ff80, "sxtb"),
    (0xffff_8000, "sxth"),
    (0xff, "uxtb"),
    (0x56ff, "uxth"),
    (0xffff_ff81, "ldrsb"),
    (0xffff_8081, "ldrsh"),
    (0x80, "ldrb"),
    (0, "stmia writeback"),
    (6, "ldmia"),
    (41, "bl + pop pc"),
    (83, "blx register"),
    (3, "signed/unsigned conditions"),
    (0x0f0f_0f0f, "mvns"),
    (0x00f0_00f0, "bics"),
    (0xfff0_fff0, "orrs"),
    (0x0ff0_0ff0, "eors"),
    (0xf000_f000, "ands"),
    (0xffff_fffb, "rsbs #0"),
    (0x8000_0000, "tst flags N (C, V kept)"),
    (0x7000_0000, "cmn flags Z C V"),
    (8, "add rd, sp, #imm"),
    (0, "sub/add sp"),
    (0xcafe_f00d, "adr + ldr"),
    (0xffff_ffff, "asrs #32"),
    (0xa000_0000, "asrs #32 flags N C"),
    (0x8000_0001, "rors by 32"),
    (0xa000_0000, "rors by 32 flags N C"),
    (0x8000_0001, "rors by 33"),
];

#[test]
fn armv6m_semantics() {
    let prog = assemble("armv6m", PROGRAM);
    let mut chip = load(vec![0; 4096], &prog);
    let stop = chip.run(10_000);
    assert!(
        matches!(stop, Ok(Stop::Breakpoint { imm: 0, .. })),
        "{stop:?}"
    );
    assert_eq!(chip.reg(0), Some(OUT + 4 * EXPECTED.len() as u32));
    let mut out = vec![0u8; 4 * EXPECTED.len()];
    chip.read_memory(OUT, &mut out).unwrap();
    let mut wrong = Vec::new();
    for (i, (want, what)) in EXPECTED.iter().enumerate() {
        let got = u32::from_le_bytes(out[4 * i..4 * i + 4].try_into().unwrap());
        if got != *want {
            wrong.push(format!("#{i} {what}: got {got:#010x}, want {want:#010x}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// On ARMv6-M, `add pc, rm` and `mov pc, rm` branch without interworking: bit 0 is ignored and
/// the core stays in Thumb state (compilers' jump tables add even offsets to the PC).
#[test]
fn alu_writes_to_pc_do_not_interwork() {
    let prog = assemble(
        "alu_pc",
        r#"
main:
    movs r2, #0
    movs r1, #2
    add pc, r1
    movs r2, #1
    movs r2, #2
    movs r3, #7
    adr r1, target
    mov pc, r1
    movs r3, #9
    .align 2
target:
    movs r4, #5
    bkpt #2
"#,
    );
    let mut chip = load(vec![0; 4096], &prog);
    let stop = chip.run(100);
    assert!(
        matches!(stop, Ok(Stop::Breakpoint { imm: 2, .. })),
        "{stop:?}"
    );
    assert_eq!(
        (chip.reg(2), chip.reg(3), chip.reg(4)),
        (Some(0), Some(7), Some(5))
    );
}
