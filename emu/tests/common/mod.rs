//! Assembles small Thumb programs with GNU binutils (installed by scripts/setup.sh) and loads
//! them into an emulated RP2040.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use avm_jit_emu::{Rp2040, SRAM_BASE, SRAM_SIZE};

/// Where programs are loaded and start.
pub const LOAD: u32 = SRAM_BASE;
pub const STACK_TOP: u32 = SRAM_BASE + SRAM_SIZE;

/// Shared by every program: `_start` jumps to `main`; `lookup` finds a ROM function the way
/// rp2040-hal's rom_data does; `rom CODE` calls one with r0-r3 as arguments; `xip_on` runs the
/// boot ROM sequence that maps flash.
const PRELUDE: &str = r#"
    .syntax unified
    .cpu cortex-m0
    .thumb
    .text
    .equ IF, 0x4649
    .equ EX, 0x5845
    .equ RE, 0x4552
    .equ RP, 0x5052
    .equ FC, 0x4346
    .equ CX, 0x5843
    .global _start
    .thumb_func
_start:
    b main
    .thumb_func
lookup:
    push {lr}
    mov r1, r0
    movs r2, #0x14
    ldrh r0, [r2]
    movs r2, #0x18
    ldrh r2, [r2]
    blx r2
    pop {pc}
    .macro rom code
    push {r0-r3}
    ldr r0, =\code
    bl lookup
    mov r12, r0
    pop {r0-r3}
    blx r12
    .endm
    .macro xip_on
    rom IF
    rom EX
    rom FC
    rom CX
    .endm
    .macro wr addr, val
    ldr r0, =\addr
    ldr r1, =\val
    str r1, [r0]
    .endm
    .macro waitfor addr, mask, val
    ldr r0, =\addr
    ldr r2, =\mask
    ldr r3, =\val
1:  ldr r1, [r0]
    ands r1, r2
    cmp r1, r3
    bne 1b
    .endm
    @ The Pico SDK runtime's clock set-up (RP2040 datasheet registers): clk_sys 125 MHz from
    @ PLL_SYS on the 12 MHz crystal, clk_ref from the crystal, the 1 us watchdog tick, TIMER out
    @ of reset. Aliases: +0x2000 sets bits, +0x3000 clears them.
    .macro clocks_up
    wr 0x40008078, 0
    wr 0x4000b03c, 1
    waitfor 0x40008044, 0xffffffff, 1
    wr 0x4000b030, 3
    waitfor 0x40008038, 0xffffffff, 1
    wr 0x40024000, 0xaa0
    wr 0x4002400c, 47
    wr 0x40024000, 0xfabaa0
    waitfor 0x40024004, 0x80000000, 0x80000000
    wr 0x4000e000, 0x1000
    wr 0x4000f000, 0x1000
    waitfor 0x4000c008, 0x1000, 0x1000
    wr 0x40028000, 1
    wr 0x40028008, 125
    wr 0x4002b004, 0x21
    waitfor 0x40028000, 0x80000000, 0x80000000
    wr 0x4002800c, 0x62000
    wr 0x4002b004, 0x8
    wr 0x40008034, 0x100
    wr 0x40008030, 2
    waitfor 0x40008038, 0xffffffff, 4
    wr 0x40008040, 0x100
    wr 0x4000b03c, 0xe0
    wr 0x4000a03c, 1
    waitfor 0x40008044, 0xffffffff, 2
    wr 0x4005802c, 0x20c
    wr 0x4000f000, 0x200000
    waitfor 0x4000c008, 0x200000, 0x200000
    .endm
"#;

pub struct Program {
    pub bin: Vec<u8>,
    pub elf: Vec<u8>,
    pub syms: HashMap<String, u32>,
}

impl Program {
    pub fn sym(&self, name: &str) -> u32 {
        *self
            .syms
            .get(name)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (scripts/setup.sh installs binutils-arm-none-eabi)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Assembles `src` (after the prelude) for a Cortex-M0+, linked at the start of SRAM.
pub fn assemble(name: &str, src: &str) -> Program {
    assemble_at(name, src, LOAD)
}

/// Assembles `src` (after the prelude) for a Cortex-M0+, linked at `text`.
pub fn assemble_at(name: &str, src: &str, text: u32) -> Program {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("emu-asm");
    std::fs::create_dir_all(&dir).unwrap();
    let s = dir.join(format!("{name}.s"));
    let o = dir.join(format!("{name}.o"));
    let elf = dir.join(format!("{name}.elf"));
    let bin = dir.join(format!("{name}.bin"));
    std::fs::write(&s, format!("{PRELUDE}\n{src}\n")).unwrap();
    run(Command::new("arm-none-eabi-as")
        .args(["-mcpu=cortex-m0", "-mthumb", "-o"])
        .arg(&o)
        .arg(&s));
    run(Command::new("arm-none-eabi-ld")
        .arg(format!("-Ttext={text:#x}"))
        .args(["-e", "_start", "-o"])
        .arg(&elf)
        .arg(&o));
    run(Command::new("arm-none-eabi-objcopy")
        .args(["-O", "binary"])
        .arg(&elf)
        .arg(&bin));
    let syms = run(Command::new("arm-none-eabi-nm").arg(&elf))
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let addr = u32::from_str_radix(it.next()?, 16).ok()?;
            let _kind = it.next()?;
            Some((it.next()?.to_string(), addr))
        })
        .collect();
    Program {
        bin: std::fs::read(&bin).unwrap(),
        elf: std::fs::read(&elf).unwrap(),
        syms,
    }
}

/// Builds the bare-metal crate `emu/tests/<dir>` (bin `<bin>`) for thumbv6m-none-eabi with its
/// `link.x`, and returns its ELF.
pub fn build_program(dir: &str, bin: &str, release: bool) -> Vec<u8> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir);
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir);
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&src)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "rustc",
            "--quiet",
            "--target",
            "thumbv6m-none-eabi",
            "--target-dir",
        ])
        .arg(&target_dir);
    if release {
        cmd.arg("--release");
    }
    cmd.arg("--")
        .arg(format!("-Clink-arg=-T{}", src.join("link.x").display()));
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building {dir} failed (scripts/setup.sh adds the thumbv6m-none-eabi target):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = if release { "release" } else { "debug" };
    std::fs::read(
        target_dir
            .join("thumbv6m-none-eabi")
            .join(profile)
            .join(bin),
    )
    .unwrap()
}

/// A chip with `flash`, the program in SRAM, SP at the top of SRAM and PC at `_start`.
pub fn load(flash: Vec<u8>, prog: &Program) -> Rp2040 {
    let mut chip = Rp2040::new(flash).unwrap();
    chip.write_memory(LOAD, &prog.bin).unwrap();
    chip.set_sp_pc(STACK_TOP, LOAD | 1);
    chip
}

/// A flash image of `len` bytes where byte i holds i * 7 + 3 (mod 256).
pub fn patterned_flash(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(3))
        .collect()
}
