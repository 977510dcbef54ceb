//! rustc's own ARMv6-M output runs on the emulator with the results the host computes from the
//! same source (emu/tests/thumbv6m-program), at opt-level z and without optimisation.

mod common;

use avm_jit_emu::{load_elf, Rp2040, Stop};

mod host {
    #![allow(clippy::all)]
    include!("thumbv6m-program/work.rs");
}

#[test]
fn rustc_thumbv6m_output_computes_what_the_host_computes() {
    let mut want = [0u32; 8];
    host::work(&mut want);
    for release in [true, false] {
        let elf = common::build_program("thumbv6m-program", "emu-thumbv6m-program", release);
        let mut chip = Rp2040::new(vec![0xff; 4096]).unwrap();
        let loaded = load_elf(&mut chip, &elf).unwrap();
        chip.set_sp_pc(loaded.stack_start.unwrap(), loaded.entry);
        let stop = chip.run(50_000_000);
        assert!(
            matches!(stop, Ok(Stop::Breakpoint { imm: 1, .. })),
            "release={release}: {stop:?}"
        );
        let mut out = [0u8; 32];
        chip.read_memory(0x2003_0000, &mut out).unwrap();
        let got: Vec<u32> = out
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(got, want, "release={release}");
    }
}
