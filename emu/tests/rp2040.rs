//! The emulated RP2040's model, tested with small Thumb programs (no loader involved).

mod common;

use avm_jit_emu::{EmuError, PowerCut, Rp2040, Stop};
use common::{assemble, load, patterned_flash, LOAD, STACK_TOP};

const FLASH: usize = 64 * 1024;
const LIMIT: u64 = 1_000_000;

fn bkpt(chip: &mut Rp2040) -> (u8, u32) {
    match chip.run(LIMIT) {
        Ok(Stop::Breakpoint { imm, pc }) => (imm, pc),
        other => panic!("expected a breakpoint, got {other:?}"),
    }
}

fn error(chip: &mut Rp2040) -> EmuError {
    match chip.run(LIMIT) {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn word(flash: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(flash[at..at + 4].try_into().unwrap())
}

#[test]
fn xip_read_faults_after_reset() {
    let prog = assemble(
        "xip_cold",
        r#"
main:
    ldr r0, =0x10000100
read:
    ldr r1, [r0]
    bkpt #1
"#,
    );
    let mut chip = load(patterned_flash(FLASH), &prog);
    match error(&mut chip) {
        EmuError::XipNotReady { pc, addr, why } => {
            assert_eq!(pc, prog.sym("read"));
            assert_eq!(addr, 0x1000_0100);
            assert!(why.contains("after reset"), "{why}");
        }
        e => panic!("{e}"),
    }
    // The failure is sticky until the debugger restarts the core.
    assert!(matches!(chip.run(LIMIT), Err(EmuError::XipNotReady { .. })));
    // Fetching code from XIP faults the same way.
    let prog = assemble(
        "xip_cold_exec",
        r#"
main:
    ldr r0, =0x10000001
    bx r0
"#,
    );
    let mut chip = load(patterned_flash(FLASH), &prog);
    assert!(matches!(
        error(&mut chip),
        EmuError::XipNotReady {
            addr: 0x1000_0000,
            ..
        }
    ));
}

#[test]
fn xip_reads_flash_after_the_rom_sequence() {
    let prog = assemble(
        "xip_on",
        r#"
main:
    xip_on
    ldr r0, =0x10000100
    ldr r4, [r0]
    ldrb r5, [r0, #3]
    ldr r0, =0x1000fffc
    ldrh r6, [r0, #2]
    bkpt #1
"#,
    );
    let flash = patterned_flash(FLASH);
    let mut chip = load(flash.clone(), &prog);
    assert!(!chip.xip_mapped());
    bkpt(&mut chip);
    assert!(chip.xip_mapped());
    assert_eq!(chip.reg(4), Some(word(&flash, 0x100)));
    assert_eq!(chip.reg(5), Some(flash[0x103] as u32));
    assert_eq!(
        chip.reg(6),
        Some(u16::from_le_bytes([flash[0xfffe], flash[0xffff]]) as u32)
    );
    // reset-and-halt undoes it (boot2 does not run).
    chip.reset_and_halt().unwrap();
    assert!(!chip.xip_mapped());
}

/// Each incomplete or misordered sequence leaves XIP unmapped, and says what is missing.
#[test]
fn xip_needs_every_step_in_order() {
    for (name, seq, missing) in [
        (
            "no_if",
            "rom EX\n rom FC\n rom CX",
            "connect_internal_flash",
        ),
        ("no_ex", "rom IF\n rom FC\n rom CX", "flash_exit_xip"),
        ("no_fc", "rom IF\n rom EX\n rom CX", "flash_flush_cache"),
        (
            "fc_before_ex",
            "rom IF\n rom FC\n rom EX\n rom CX",
            "flash_flush_cache",
        ),
        (
            "no_cx",
            "rom IF\n rom EX\n rom FC",
            "flash_exit_xip turned XIP off",
        ),
    ] {
        let prog = assemble(
            &format!("xip_{name}"),
            &format!("main:\n {seq}\n ldr r0, =0x10000000\nread:\n ldr r1, [r0]\n bkpt #1\n"),
        );
        let mut chip = load(patterned_flash(FLASH), &prog);
        match error(&mut chip) {
            EmuError::XipNotReady { pc, why, .. } => {
                assert_eq!(pc, prog.sym("read"), "{name}");
                assert!(why.contains(missing), "{name}: {why}");
            }
            e => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn rom_header_and_lookup_by_code() {
    let prog = assemble(
        "lookup",
        r#"
main:
    ldr r0, =IF
    bl lookup
    mov r4, r0
    ldr r0, =RP
    bl lookup
    mov r5, r0
    ldr r0, =0x5a5a
    bl lookup
    mov r6, r0
    @ the data table is a table too: it has no 'IF'
    ldr r1, =IF
    movs r2, #0x16
    ldrh r0, [r2]
    movs r2, #0x18
    ldrh r2, [r2]
    blx r2
    mov r7, r0
    @ what the lookup found for IF is connect_internal_flash: call it, then EX, then RE
    blx r4
    rom EX
    movs r0, #0
    ldr r1, =4096
    ldr r2, =4096
    movs r3, #0x20
    rom RE
    bkpt #1
"#,
    );
    let mut chip = load(vec![0; FLASH], &prog);
    let mut header = [0u8; 4];
    chip.read_memory(0x10, &mut header).unwrap();
    assert_eq!(&header[..3], b"Mu\x01");
    bkpt(&mut chip);
    let (f_if, f_rp) = (chip.reg(4).unwrap(), chip.reg(5).unwrap());
    assert!(f_if & 1 == 1 && f_if < 0x4000, "{f_if:#x}");
    assert!(f_rp & 1 == 1 && f_rp < 0x4000 && f_rp != f_if, "{f_rp:#x}");
    assert_eq!(chip.reg(6), Some(0), "unknown code");
    assert_eq!(chip.reg(7), Some(0), "IF is not data");
    // The erase only passes its contract if the looked-up IF really connected the flash.
    assert_eq!(chip.stats().erase_calls, 1);
    assert!(chip.flash()[..4096].iter().all(|&b| b == 0xff));
    assert!(chip.flash()[4096..].iter().all(|&b| b == 0));
}

/// A program that prepares the flash interface (IF, EX) and makes one call; `args` sets r0-r3.
fn one_call(name: &str, args: &str, code: &str) -> common::Program {
    assemble(
        name,
        &format!("main:\n rom IF\n rom EX\n {args}\n rom {code}\n bkpt #1\n"),
    )
}

#[test]
fn erase_and_program_contracts() {
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // name, r0-r3 set-up, function code, function name, expected reason
        (
            "erase_offset",
            "ldr r0, =0x800\n ldr r1, =0x1000\n ldr r2, =0x10000\n movs r3, #0xd8",
            "RE",
            "flash_range_erase",
            "offset 0x800 is not a multiple of 4096",
        ),
        (
            "erase_count",
            "movs r0, #0\n ldr r1, =0x1800\n ldr r2, =0x10000\n movs r3, #0xd8",
            "RE",
            "flash_range_erase",
            "count 0x1800 is not a multiple of 4096",
        ),
        (
            "erase_outside",
            "ldr r0, =0xf000\n ldr r1, =0x2000\n ldr r2, =0x10000\n movs r3, #0xd8",
            "RE",
            "flash_range_erase",
            "outside the 0x10000-byte flash",
        ),
        (
            "erase_cmd",
            "movs r0, #0\n ldr r1, =0x1000\n ldr r2, =0x10000\n movs r3, #0x20",
            "RE",
            "flash_range_erase",
            "block size 0x10000 with block command 0x20",
        ),
        (
            "program_offset",
            "ldr r0, =0x80\n ldr r1, =0x20001000\n ldr r2, =0x100",
            "RP",
            "flash_range_program",
            "offset 0x80 is not a multiple of 256",
        ),
        (
            "program_count",
            "movs r0, #0\n ldr r1, =0x20001000\n movs r2, #100",
            "RP",
            "flash_range_program",
            "count 0x64 is not a multiple of 256",
        ),
        (
            "program_outside",
            "ldr r0, =0xff00\n ldr r1, =0x20001000\n ldr r2, =0x200",
            "RP",
            "flash_range_program",
            "outside the 0x10000-byte flash",
        ),
        (
            "program_from_xip",
            "movs r0, #0\n ldr r1, =0x10001000\n ldr r2, =0x100",
            "RP",
            "flash_range_program",
            "is not in SRAM (XIP is off while programming)",
        ),
        (
            "program_past_sram",
            "movs r0, #0\n ldr r1, =0x20041f00\n ldr r2, =0x200",
            "RP",
            "flash_range_program",
            "is not in SRAM",
        ),
    ];
    for (name, args, code, function, why) in cases {
        let prog = one_call(name, args, code);
        let mut chip = load(patterned_flash(FLASH), &prog);
        match error(&mut chip) {
            EmuError::RomContract {
                function: f,
                args: a,
                why: w,
            } => {
                assert_eq!(f, *function, "{name}");
                assert!(w.contains(why), "{name}: {w}");
                assert_eq!(a.len(), if *code == "RE" { 4 } else { 3 }, "{name}");
            }
            e => panic!("{name}: {e}"),
        }
        // Nothing was written.
        assert_eq!(chip.flash(), &patterned_flash(FLASH)[..], "{name}");
    }
    // The error's text names the function and its arguments.
    let prog = one_call(
        "erase_text",
        "ldr r0, =0x800\n ldr r1, =0x1000\n ldr r2, =0x10000\n movs r3, #0xd8",
        "RE",
    );
    let e = error(&mut load(patterned_flash(FLASH), &prog)).to_string();
    assert!(
        e.contains("flash_range_erase(0x800, 0x1000, 0x10000, 0xd8)"),
        "{e}"
    );
}

#[test]
fn erase_and_program_need_connect_and_exit_since_the_last_enter_xip() {
    let erase = "movs r0, #0\n ldr r1, =0x1000\n ldr r2, =0x1000\n movs r3, #0x20\n rom RE";
    for (name, before, why) in [
        ("nothing", "", "connect_internal_flash has not run"),
        ("no_exit", "rom IF", "flash_exit_xip has not run"),
        (
            "exit_first",
            "rom EX\n rom IF",
            "flash_exit_xip has not run",
        ),
        ("after_cx", "xip_on", "connect_internal_flash has not run"),
    ] {
        let prog = assemble(
            &format!("seq_{name}"),
            &format!("main:\n {before}\n {erase}\n bkpt #1\n"),
        );
        let mut chip = load(patterned_flash(FLASH), &prog);
        match error(&mut chip) {
            EmuError::RomContract {
                function, why: w, ..
            } => {
                assert_eq!(function, "flash_range_erase", "{name}");
                assert!(w.contains(why), "{name}: {w}");
            }
            e => panic!("{name}: {e}"),
        }
    }
}

#[test]
fn nor_semantics() {
    let prog = assemble(
        "nor",
        r#"
main:
    rom IF
    rom EX
    @ erase the second sector, then program 0x0f.. over the first page of the third sector
    ldr r0, =0x1000
    ldr r1, =0x1000
    ldr r2, =0x1000
    movs r3, #0x20
    rom RE
    ldr r0, =0x2000
    ldr r1, =0x20010000
    ldr r2, =0x100
    rom RP
    @ programming 1 bits over 0 bits changes nothing; over an erased sector it writes
    ldr r0, =0x1000
    ldr r1, =0x20010000
    ldr r2, =0x200
    rom RP
    bkpt #1
"#,
    );
    let flash = patterned_flash(FLASH);
    let mut chip = load(flash.clone(), &prog);
    let data: Vec<u8> = (0..0x200).map(|i| 0x0f ^ (i as u8)).collect();
    chip.write_memory(0x2001_0000, &data).unwrap();
    bkpt(&mut chip);
    let got = chip.flash();
    assert_eq!(&got[..0x1000], &flash[..0x1000]);
    assert_eq!(&got[0x1000..0x1200], &data[..]);
    assert!(got[0x1200..0x2000].iter().all(|&b| b == 0xff));
    for i in 0..0x100 {
        assert_eq!(got[0x2000 + i], flash[0x2000 + i] & data[i], "byte {i}");
    }
    assert_eq!(&got[0x2100..], &flash[0x2100..]);
    let s = chip.stats();
    assert_eq!((s.erase_calls, s.program_calls), (1, 2));
    assert_eq!((s.erased_bytes, s.programmed_bytes), (0x1000, 0x300));
}

#[test]
fn xip_is_off_after_erase_or_program_until_flush_and_enter() {
    for (name, op, then, readable) in [
        (
            "erase",
            "movs r0, #0\n ldr r1, =0x1000\n ldr r2, =0x10000\n ldr r3, =0xd8\n rom RE",
            "",
            false,
        ),
        (
            "program",
            "movs r0, #0\n ldr r1, =0x20010000\n ldr r2, =0x100\n rom RP",
            "",
            false,
        ),
        (
            "erase_cx_only",
            "movs r0, #0\n ldr r1, =0x1000\n ldr r2, =0x8000\n movs r3, #0x52\n rom RE",
            "rom CX",
            false,
        ),
        (
            "flush_before_erase",
            "rom FC\n movs r0, #0\n ldr r1, =0x1000\n ldr r2, =0x1000\n movs r3, #0x20\n rom RE",
            "rom CX",
            false,
        ),
        (
            "erase_fc_cx",
            "movs r0, #0\n ldr r1, =0x1000\n ldr r2, =0x1000\n movs r3, #0x20\n rom RE",
            "rom FC\n rom CX",
            true,
        ),
        (
            "program_fc_cx",
            "movs r0, #0\n ldr r1, =0x20010000\n ldr r2, =0x100\n rom RP",
            "rom FC\n rom CX",
            true,
        ),
    ] {
        let prog = assemble(
            &format!("xipoff_{name}"),
            &format!(
                "main:\n xip_on\n ldr r0, =0x10000000\n ldr r4, [r0]\n rom IF\n rom EX\n {op}\n {then}\n ldr r0, =0x10000000\nread:\n ldr r5, [r0]\n bkpt #1\n"
            ),
        );
        let flash = patterned_flash(FLASH);
        let mut chip = load(flash.clone(), &prog);
        if readable {
            bkpt(&mut chip);
            assert_eq!(chip.reg(4), Some(word(&flash, 0)), "{name}");
            // The read sees the new contents.
            assert_eq!(chip.reg(5), Some(word(chip.flash(), 0)), "{name}");
            assert_ne!(chip.reg(4), chip.reg(5), "{name}");
        } else {
            match error(&mut chip) {
                EmuError::XipNotReady { pc, why, .. } => {
                    assert_eq!(pc, prog.sym("read"), "{name}");
                    assert!(
                        why.contains("turned XIP off") || why.contains("flash_flush_cache"),
                        "{name}: {why}"
                    );
                }
                e => panic!("{name}: {e}"),
            }
            assert_eq!(chip.reg(4), Some(word(&flash, 0)), "{name}");
        }
    }
}

#[test]
fn timer_counts_estimated_microseconds() {
    let prog = assemble(
        "timer",
        r#"
main:
    clocks_up
    ldr r7, =0x40054000
    ldr r4, [r7, #0x28]
    ldr r0, =100000
loop:
    subs r0, #1
    bne loop
    ldr r5, [r7, #0x28]
    ldr r6, [r7, #0x24]
    rom IF
    rom EX
    movs r0, #0
    ldr r1, =0x2000
    ldr r2, =0x1000
    movs r3, #0x20
    rom RE
    ldr r1, [r7, #0x28]
    bkpt #1
"#,
    );
    let mut chip = load(vec![0; FLASH], &prog);
    bkpt(&mut chip);
    let (t0, t1, hi, t2) = (
        chip.reg(4).unwrap(),
        chip.reg(5).unwrap(),
        chip.reg(6).unwrap(),
        chip.reg(1).unwrap(),
    );
    // 200,000 loop instructions at 1.3 cycles and 125 MHz: 2080 us.
    assert!((2080..2090).contains(&(t1 - t0)), "{t0} {t1}");
    assert_eq!(hi, 0);
    // Erasing 8 KiB takes 90 ms.
    assert!((90_000..90_100).contains(&(t2 - t1)), "{t1} {t2}");
    // The timer is read-only.
    let prog = assemble(
        "timer_write",
        "main:\n ldr r7, =0x40054000\n movs r0, #1\n str r0, [r7, #0x28]\n bkpt #1\n",
    );
    assert!(matches!(
        error(&mut load(vec![0; FLASH], &prog)),
        EmuError::ReadOnly {
            addr: 0x4005_4028,
            ..
        }
    ));
}

#[test]
fn counts_instructions_and_estimates_time() {
    let prog = assemble(
        "count",
        r#"
main:
    ldr r0, =1000000
loop:
    subs r0, #1
    bne loop
    bkpt #7
"#,
    );
    let mut chip = load(vec![0; FLASH], &prog);
    let before = chip.stats();
    assert_eq!(before.instructions, 0);
    let t = std::time::Instant::now();
    assert_eq!(
        chip.run(3_000_000),
        Ok(Stop::Breakpoint {
            imm: 7,
            pc: prog.sym("loop") + 4
        })
    );
    eprintln!("2,000,003 instructions in {:?}", t.elapsed());
    let s = chip.stats();
    // b main, ldr, 1,000,000 × (subs, bne), bkpt
    assert_eq!(s.instructions, 2_000_003);
    assert_eq!(s.estimated_us, 2_000_003 * 13 / 1250);
    assert_eq!(s.flash_busy_us, 0);

    let prog = assemble(
        "count_flash",
        r#"
main:
    rom IF
    rom EX
    movs r0, #0
    ldr r1, =0x2000
    ldr r2, =0x10000
    ldr r3, =0xd8
    rom RE
    movs r0, #0
    ldr r1, =0x20010000
    ldr r2, =0x200
    rom RP
    bkpt #1
"#,
    );
    let mut chip = load(vec![0; FLASH], &prog);
    bkpt(&mut chip);
    let s = chip.stats();
    assert_eq!((s.erase_calls, s.program_calls), (1, 1));
    assert_eq!(s.flash_busy_us, 90_000 + 800);
    assert_eq!(s.estimated_us, s.instructions * 13 / 1250 + 90_800);
}

/// After reset the timer is in reset and the watchdog tick is not generated: TIMERAWL reads 0
/// until both are started, and then counts at the clk_ref / tick cycles the program chose, while
/// the instructions run at the clk_sys it chose (ROSC, nominally 6.5 MHz, after reset).
#[test]
fn timer_counts_only_after_the_clock_bring_up() {
    let loop_200k = "ldr r0, =100000\n1: subs r0, #1\n bne 1b\n ldr r1, [r7, #0x28]\n";
    let cases: &[(&str, &str, std::ops::Range<u32>)] = &[
        ("reset", "", 0..1),
        ("tick_only", "wr 0x4005802c, 0x20c\n", 0..1),
        (
            "timer_only",
            "wr 0x4000f000, 0x200000\n waitfor 0x4000c008, 0x200000, 0x200000\n",
            0..1,
        ),
        // Tick from clk_ref on the ring oscillator (6.5 MHz / 12 per tick), clk_sys too: 200,000
        // instructions at 1.3 cycles take 40 ms, counted as 21,666 ticks.
        (
            "rosc",
            "wr 0x4005802c, 0x20c\n wr 0x4000f000, 0x200000\n",
            21_600..21_700,
        ),
        // 125 MHz: 2080 us.
        ("pll", "clocks_up\n", 2080..2090),
    ];
    for (name, setup, expected) in cases {
        let prog = assemble(
            &format!("timer_{name}"),
            &format!(
                "main:\n {setup}\n ldr r7, =0x40054000\n ldr r4, [r7, #0x28]\n {loop_200k}\n bkpt #1\n"
            ),
        );
        let mut chip = load(vec![0; FLASH], &prog);
        bkpt(&mut chip);
        let (t0, t1) = (chip.reg(4).unwrap(), chip.reg(1).unwrap());
        assert!(expected.contains(&(t1 - t0)), "{name}: {t0} {t1}");
    }
    // A reset stops it again.
    let prog = assemble("timer_reset", "main:\n clocks_up\n bkpt #1\n");
    let mut chip = load(vec![0; FLASH], &prog);
    bkpt(&mut chip);
    chip.reset_and_halt().unwrap();
    let read = assemble(
        "timer_read",
        "main:\n ldr r7, =0x40054000\n ldr r1, [r7, #0x28]\n bkpt #1\n",
    );
    chip.write_memory(LOAD, &read.bin).unwrap();
    chip.set_sp_pc(STACK_TOP, read.sym("_start"));
    bkpt(&mut chip);
    assert_eq!(chip.reg(1), Some(0));
}

/// Clock switches that stop or glitch a clock on the chip, or writes the chip drops, fail the run.
#[test]
fn clock_tree_misuse_is_refused() {
    let cases: &[(&str, &str, &str)] = &[
        ("pll_unlocked", "wr 0x4000a03c, 1", "not running"),
        ("pll_in_reset", "wr 0x40028008, 125", "held in reset"),
        ("xosc_off", "wr 0x40008030, 2", "XOSC, which is not running"),
        (
            "aux_glitch",
            "clocks_up\n wr 0x4000a03c, 0x60",
            "not glitchless",
        ),
        (
            "pll_in_use",
            "clocks_up\n wr 0x40028008, 100",
            "while clk_sys runs from it",
        ),
        (
            "too_fast",
            "clocks_up\n wr 0x4000b03c, 1\n wr 0x4002800c, 0x52000\n wr 0x4000a03c, 1",
            "above the RP2040's 133 MHz",
        ),
        ("fractional", "wr 0x40008040, 0x180", "whole dividers"),
    ];
    for (name, code, why) in cases {
        let prog = assemble(
            &format!("clk_{name}"),
            &format!("main:\n {code}\n bkpt #1\n"),
        );
        let mut chip = load(vec![0; FLASH], &prog);
        let e = error(&mut chip);
        assert!(
            matches!(&e, EmuError::Peripheral { why: w, .. } if w.contains(why)),
            "{name}: {e}"
        );
    }
}

/// Erase time is charged per erase command the boot ROM issues: a block command only where the
/// address is aligned to the block and a whole block remains, else 4 KiB sectors.
#[test]
fn erase_time_per_command() {
    let cases: &[(u32, u32, u32, u32, u64)] = &[
        (0, 0x10000, 0x10000, 0xd8, 150_000),
        (0, 0x8000, 0x8000, 0x52, 120_000),
        (0, 0x2000, 0x1000, 0x20, 90_000),
        (0x1000, 0x8000, 0x8000, 0x52, 8 * 45_000),
        (0x8000, 0x8000, 0x1_0000, 0xd8, 8 * 45_000),
        (0x7000, 0x9000, 0x8000, 0x52, 45_000 + 120_000),
    ];
    for &(offset, count, block, cmd, us) in cases {
        let prog = assemble(
            &format!("erase_{offset:x}_{count:x}_{block:x}"),
            &format!(
                "main:\n rom IF\n rom EX\n ldr r0, ={offset}\n ldr r1, ={count}\n ldr r2, ={block}\n \
                 movs r3, #{cmd}\n rom RE\n bkpt #1\n"
            ),
        );
        let mut chip = load(vec![0; FLASH], &prog);
        bkpt(&mut chip);
        let s = chip.stats();
        assert_eq!(s.flash_busy_us, us, "{offset:#x} {count:#x} {block:#x}");
        assert_eq!(s.erased_bytes, count as u64);
        assert!(chip.flash()[offset as usize..(offset + count) as usize]
            .iter()
            .all(|&b| b == 0xff));
    }
}

/// `run(limit)` stops after exactly `limit` instructions and resumes where it stopped.
#[test]
fn instruction_limit_and_resume() {
    let prog = assemble(
        "limit",
        "main:\n movs r0, #0\nloop:\n adds r0, #1\n cmp r0, #200\n bne loop\n bkpt #3\n",
    );
    let mut chip = load(vec![0; FLASH], &prog);
    assert_eq!(chip.run(10), Ok(Stop::InstructionLimit));
    assert_eq!(chip.stats().instructions, 10);
    assert_eq!(chip.run(100), Ok(Stop::InstructionLimit));
    assert_eq!(chip.stats().instructions, 110);
    let (imm, pc) = bkpt(&mut chip);
    assert_eq!(imm, 3);
    assert_eq!(chip.reg(0), Some(200));
    // b, movs, 200 × (adds, cmp, bne), bkpt
    assert_eq!(chip.stats().instructions, 603);
    assert_eq!(pc + 2, chip.pc());
}

#[test]
fn breakpoint_pauses_and_resumes() {
    let prog = assemble(
        "resume",
        "main:\n movs r0, #1\nfirst:\n bkpt #1\n adds r0, #5\nsecond:\n bkpt #2\n",
    );
    let mut chip = load(vec![0; FLASH], &prog);
    assert_eq!(bkpt(&mut chip), (1, prog.sym("first")));
    assert_eq!(chip.reg(0), Some(1));
    // The host may read/write SRAM between runs.
    chip.write_memory(0x2002_0000, &[1, 2, 3]).unwrap();
    assert_eq!(bkpt(&mut chip), (2, prog.sym("second")));
    assert_eq!(chip.reg(0), Some(6));
    let mut b = [0u8; 3];
    chip.read_memory(0x2002_0000, &mut b).unwrap();
    assert_eq!(b, [1, 2, 3]);
}

#[test]
fn power_cut_mid_erase_leaves_a_partial_erase() {
    let prog = assemble(
        "cut_erase",
        r#"
main:
    rom IF
    rom EX
    movs r0, #0
    ldr r1, =0x1000
    ldr r2, =0x1000
    movs r3, #0x20
    rom RE
    ldr r0, =0x1000
    ldr r1, =0x2000
    ldr r2, =0x1000
    movs r3, #0x20
    rom RE
    bkpt #1
"#,
    );
    let mut chip = load(vec![0; FLASH], &prog);
    chip.set_power_cut(PowerCut::DuringFlashOp {
        index: 1,
        bytes: 1000,
    });
    assert_eq!(chip.run(LIMIT), Ok(Stop::PowerCut));
    let f = chip.flash();
    assert!(
        f[..0x1000].iter().all(|&b| b == 0xff),
        "first call complete"
    );
    assert!(f[0x1000..0x1000 + 1000].iter().all(|&b| b == 0xff));
    assert!(f[0x1000 + 1000..].iter().all(|&b| b == 0));
    assert_eq!(chip.stats().erased_bytes, 0x1000 + 1000);
    // The chip stays off.
    assert_eq!(chip.run(LIMIT), Ok(Stop::PowerCut));
    // Power back on: SRAM is lost, flash is kept.
    chip.reset_and_halt().unwrap();
    let mut b = [0xaau8; 4];
    chip.read_memory(LOAD, &mut b).unwrap();
    assert_eq!(b, [0; 4]);
    assert!(chip.flash()[..0x1000].iter().all(|&b| b == 0xff));
}

#[test]
fn power_cut_mid_program_leaves_a_partial_program() {
    let prog = assemble(
        "cut_program",
        r#"
main:
    rom IF
    rom EX
    ldr r0, =0x3000
    ldr r1, =0x20010000
    ldr r2, =0x400
    rom RP
    bkpt #1
"#,
    );
    let flash = vec![0xff; FLASH];
    let mut chip = load(flash, &prog);
    chip.write_memory(0x2001_0000, &[0x5a; 0x400]).unwrap();
    chip.set_power_cut(PowerCut::DuringFlashOp {
        index: 0,
        bytes: 300,
    });
    assert_eq!(chip.run(LIMIT), Ok(Stop::PowerCut));
    let f = chip.flash();
    assert!(f[0x3000..0x3000 + 300].iter().all(|&b| b == 0x5a));
    assert!(f[0x3000 + 300..].iter().all(|&b| b == 0xff));
    assert!(f[..0x3000].iter().all(|&b| b == 0xff));
    let s = chip.stats();
    assert_eq!((s.program_calls, s.programmed_bytes), (1, 300));
}

#[test]
fn power_cut_after_instructions() {
    let prog = assemble(
        "cut_count",
        "main:\n movs r0, #0\nloop:\n adds r0, #1\n b loop\n",
    );
    let mut chip = load(vec![0; FLASH], &prog);
    assert_eq!(chip.run(5), Ok(Stop::InstructionLimit));
    chip.set_power_cut(PowerCut::AfterInstructions(1001));
    assert_eq!(chip.run(LIMIT), Ok(Stop::PowerCut));
    assert_eq!(chip.stats().instructions, 1006);
    // b main, movs, then 2 per iteration: the 1006th instruction was an adds (count 502).
    assert_eq!(chip.reg(0), Some(502));
}

#[test]
fn unmapped_and_read_only_accesses_fault_with_their_address() {
    type Check = fn(&EmuError) -> bool;
    let cases: &[(&str, &str, Check)] = &[
        ("peripheral", "ldr r0, =0x40014000\n ldr r1, [r0]", |e| {
            matches!(
                e,
                EmuError::Unmapped {
                    addr: 0x4001_4000,
                    write: false,
                    size: 4,
                    ..
                }
            )
        }),
        ("write_hole", "ldr r0, =0x30000010\n strb r1, [r0]", |e| {
            matches!(
                e,
                EmuError::Unmapped {
                    addr: 0x3000_0010,
                    write: true,
                    size: 1,
                    ..
                }
            )
        }),
        ("past_sram", "ldr r0, =0x20042000\n ldrh r1, [r0]", |e| {
            matches!(
                e,
                EmuError::Unmapped {
                    addr: 0x2004_2000,
                    ..
                }
            )
        }),
        (
            "past_flash",
            "xip_on\n ldr r0, =0x10010000\n ldr r1, [r0]",
            |e| {
                matches!(
                    e,
                    EmuError::Unmapped {
                        addr: 0x1001_0000,
                        ..
                    }
                )
            },
        ),
        ("timer_other", "ldr r0, =0x40054010\n ldr r1, [r0]", |e| {
            matches!(
                e,
                EmuError::Unmapped {
                    addr: 0x4005_4010,
                    ..
                }
            )
        }),
        ("rom_write", "movs r0, #0x20\n str r1, [r0]", |e| {
            matches!(e, EmuError::ReadOnly { addr: 0x20, .. })
        }),
        (
            "xip_write",
            "xip_on\n ldr r0, =0x10000000\n str r1, [r0]",
            |e| {
                matches!(
                    e,
                    EmuError::ReadOnly {
                        addr: 0x1000_0000,
                        ..
                    }
                )
            },
        ),
        ("unaligned", "ldr r0, =0x20010002\n ldr r1, [r0]", |e| {
            matches!(e, EmuError::Fault { .. })
        }),
        (
            "arm_state",
            "ldr r0, =0x20010000\n bx r0",
            |e| matches!(e, EmuError::Fault { why, .. } if why.contains("Thumb bit")),
        ),
        ("rom_jump", "ldr r0, =0x301\n bx r0", |e| {
            matches!(e, EmuError::Fault { pc: 0x300, .. })
        }),
        ("wfi", "wfi", |e| {
            matches!(e, EmuError::Undefined { opcode: 0xbf30, .. })
        }),
        ("svc", "svc #0", |e| {
            matches!(e, EmuError::Undefined { opcode: 0xdf00, .. })
        }),
        ("udf", "udf #1", |e| {
            matches!(e, EmuError::Undefined { opcode: 0xde01, .. })
        }),
    ];
    for (name, code, ok) in cases {
        let prog = assemble(
            &format!("bad_{name}"),
            &format!("main:\n {code}\n bkpt #1\n"),
        );
        let mut chip = load(vec![0; FLASH], &prog);
        let e = error(&mut chip);
        assert!(ok(&e), "{name}: {e:?}");
        assert!(e.to_string().contains("0x"), "{name}: {e}");
    }
    // SIO CPUID reads 0.
    let prog = assemble(
        "cpuid",
        "main:\n ldr r0, =0xd0000000\n movs r1, #9\n ldr r1, [r0]\n bkpt #1\n",
    );
    let mut chip = load(vec![0; FLASH], &prog);
    bkpt(&mut chip);
    assert_eq!(chip.reg(1), Some(0));
}

#[test]
fn debugger_view() {
    let flash = patterned_flash(FLASH);
    let mut chip = Rp2040::new(flash.clone()).unwrap();
    // Flash is readable by the probe with XIP off.
    let mut b = [0u8; 8];
    chip.read_memory(0x1000_fff8, &mut b).unwrap();
    assert_eq!(b, flash[0xfff8..]);
    assert!(matches!(
        chip.read_memory(0x1000_fffc, &mut b),
        Err(EmuError::Debug {
            addr: 0x1000_fffc,
            ..
        })
    ));
    assert!(matches!(
        chip.write_memory(0x1000_0000, &[0]),
        Err(EmuError::Debug { .. })
    ));
    assert!(matches!(
        chip.write_memory(0x2004_1fff, &[0, 0]),
        Err(EmuError::Debug { .. })
    ));
    chip.write_memory(0x2004_1ffe, &[1, 2]).unwrap();
    // After reset-and-halt, nothing runs until SP and PC are set.
    assert!(matches!(chip.run(10), Err(EmuError::Fault { .. })));
    chip.set_sp_pc(STACK_TOP, 0x2004_1ffe);
    assert_eq!(chip.pc(), 0x2004_1ffe);
    assert_eq!(chip.sp(), STACK_TOP);
    // 0x0201 = movs r2, r0 ... then runs off the end of SRAM.
    assert!(matches!(
        chip.run(10),
        Err(EmuError::Unmapped {
            addr: 0x2004_2000,
            ..
        })
    ));
}

#[test]
fn flash_size_is_checked() {
    for len in [0, 1000, 4096 * 4097] {
        assert!(matches!(
            Rp2040::new(vec![0; len]),
            Err(EmuError::Config { .. })
        ));
    }
    assert!(Rp2040::new(vec![0; 16 << 20]).is_ok());
}

#[test]
fn measures_the_stack_used() {
    let prog = assemble(
        "stack",
        "main:\n push {r0-r7}\n sub sp, #256\n add sp, #256\n pop {r0-r7}\n push {r0}\n bkpt #1\n",
    );
    let mut chip = load(vec![0; FLASH], &prog);
    assert_eq!(chip.lowest_sp(), STACK_TOP);
    bkpt(&mut chip);
    assert_eq!(chip.sp(), STACK_TOP - 4);
    assert_eq!(chip.lowest_sp(), STACK_TOP - 32 - 256);
    chip.reset_lowest_sp();
    assert_eq!(chip.lowest_sp(), STACK_TOP - 4);
}

/// Whatever the code, a run ends with a stop or an error: never a panic out of the emulator.
#[test]
fn random_code_never_panics_out_of_run() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut outcomes = [0usize; 3];
    for _ in 0..300 {
        let code: Vec<u8> = (0..256).map(|_| next() as u8).collect();
        let mut chip = Rp2040::new(vec![0xff; FLASH]).unwrap();
        chip.write_memory(LOAD, &code).unwrap();
        // Registers point into SRAM often enough for loads and stores to do something.
        chip.set_sp_pc(STACK_TOP - 0x100, LOAD | 1);
        match chip.run(10_000) {
            Ok(Stop::Breakpoint { .. }) => outcomes[0] += 1,
            Ok(_) => outcomes[1] += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                outcomes[2] += 1
            }
        }
    }
    // Mostly faults (random code soon reads an unmapped address); the run always returned.
    assert_eq!(outcomes.iter().sum::<usize>(), 300, "{outcomes:?}");
    assert!(outcomes[2] > 0, "{outcomes:?}");
}
