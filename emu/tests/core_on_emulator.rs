//! avm-jit-core, built for the RP2040, compiles golden modules on the emulated chip from flash
//! (read through XIP after the boot ROM sequence) into exactly the reference compiler's bytes.
//! Prints what each compile cost on the device (estimated at 125 MHz, 1.3 cycles/instruction).

mod common;

use avm_jit_emu::{load_elf, Rp2040, Stop};
use avm_jit_tests::{golden_dir, golden_index};
use sha2::{Digest, Sha256};

const MAILBOX: u32 = 0x2004_1000;
/// Small modules of each app, so that the test stays quick.
const MODULES: [(&str, &str); 6] = [
    ("stdlib", "erl_abstract_code"),
    ("stdlib", "math"),
    ("kernel", "application_starter"),
    ("kernel", "error_handler"),
    ("compiler", "beam_flatten"),
    ("kernel", "inet_hosts"),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn core_compiles_golden_modules_on_the_emulator() {
    let Some(golden) = golden_dir("emu core_on_emulator") else {
        return;
    };
    let index = golden_index(&golden, "otp25/armv6m");
    let mut flash = Vec::new();
    let mut inputs = Vec::new();
    for (app, module) in MODULES {
        let row = index
            .iter()
            .find(|r| r.app == app && r.module == module)
            .unwrap_or_else(|| panic!("{app}/{module} not in the golden index"));
        let beam = std::fs::read(golden.join(format!("otp25/beams/{app}/{module}.beam"))).unwrap();
        assert_eq!(
            hex(&Sha256::digest(&beam)),
            row.beam_sha256,
            "{module}: input"
        );
        let want = std::fs::read(golden.join(format!("otp25/armv6m/{app}/{module}.avmN"))).unwrap();
        inputs.push((module, flash.len() as u32, beam.len() as u32, want));
        flash.extend_from_slice(&beam);
        flash.resize(flash.len().next_multiple_of(4), 0);
    }
    flash.resize(flash.len().next_multiple_of(4096), 0xff);

    let elf = common::build_program("thumbv6m-core", "emu-thumbv6m-core", true);
    let mut chip = Rp2040::new(flash).unwrap();
    let loaded = load_elf(&mut chip, &elf).unwrap();
    chip.set_sp_pc(loaded.stack_start.unwrap(), loaded.entry);
    for (module, offset, len, want) in inputs {
        chip.write_memory(MAILBOX, &offset.to_le_bytes()).unwrap();
        chip.write_memory(MAILBOX + 4, &len.to_le_bytes()).unwrap();
        let before = chip.stats();
        chip.reset_lowest_sp();
        let stop = chip.run(1_000_000_000);
        assert!(
            matches!(stop, Ok(Stop::Breakpoint { imm: 1, .. })),
            "{module}: {stop:?} at {:#x}",
            chip.pc()
        );
        let mut mb = [0u8; 24];
        chip.read_memory(MAILBOX, &mut mb).unwrap();
        let word = |i: usize| u32::from_le_bytes(mb[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(word(2), 0, "{module}: status");
        let mut got = vec![0u8; word(4) as usize];
        chip.read_memory(word(3), &mut got).unwrap();
        assert!(got == want, "{module}: differs from the reference's avmN");
        let s = chip.stats();
        let instructions = s.instructions - before.instructions;
        let ms = (s.estimated_us - before.estimated_us) as f64 / 1000.0;
        println!(
            "{module:<20} {instructions:>9} instructions, {ms:>6.1} ms on the device, peak heap {} KB, stack {} B",
            word(5) / 1024,
            loaded.stack_start.unwrap() - chip.lowest_sp()
        );
    }
    // The modules were read in place through XIP, which the program mapped itself.
    assert!(chip.xip_mapped());
}
