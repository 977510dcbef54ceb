//! Loading a RAM-only ELF as the host does for the device loader.

mod common;

use avm_jit_emu::{load_elf, EmuError, Rp2040, Stop};
use common::{assemble, assemble_at, STACK_TOP};

const PROGRAM: &str = r#"
main:
    ldr r0, =counter
    ldr r1, [r0]
    adds r1, #1
    str r1, [r0]
    ldr r2, =initial
    ldr r2, [r2]
    bkpt #9
    .data
    .align 2
initial:
    .word 0x600dcafe
    .bss
    .align 2
counter:
    .space 64
"#;

#[test]
fn loads_segments_and_zeroes_bss() {
    let prog = assemble("elf_ok", PROGRAM);
    let mut chip = Rp2040::new(vec![0xff; 4096]).unwrap();
    // SRAM holds garbage where .bss goes: the loader must zero it.
    let counter = prog.sym("counter");
    chip.write_memory(counter, &[0xee; 64]).unwrap();
    let loaded = load_elf(&mut chip, &prog.elf).unwrap();
    assert_eq!(loaded.entry, prog.sym("_start") | 1);
    assert!(loaded
        .segments
        .iter()
        .any(|&(a, len)| a <= counter && counter + 64 <= a + len));
    chip.set_sp_pc(loaded.stack_start.unwrap_or(STACK_TOP), loaded.entry);
    assert!(matches!(
        chip.run(1000),
        Ok(Stop::Breakpoint { imm: 9, .. })
    ));
    assert_eq!(chip.reg(1), Some(1));
    assert_eq!(chip.reg(2), Some(0x600d_cafe));
}

#[test]
fn refuses_what_it_cannot_load() {
    let mut chip = Rp2040::new(vec![0xff; 4096]).unwrap();
    // Linked for flash: loading it would need flash programming.
    let prog = assemble_at("elf_flash", "main:\n bkpt #1\n", 0x1000_0000);
    match load_elf(&mut chip, &prog.elf) {
        Err(EmuError::Elf { why }) => assert!(why.contains("0x10000000"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Not an ELF, and truncated ELFs: errors, never panics.
    assert!(matches!(
        load_elf(&mut chip, b"not an elf"),
        Err(EmuError::Elf { .. })
    ));
    let prog = assemble("elf_cut", PROGRAM);
    for len in [0, 16, 52, 60, prog.elf.len() / 2] {
        assert!(
            load_elf(&mut chip, &prog.elf[..len]).is_err(),
            "truncated to {len}"
        );
    }
}
