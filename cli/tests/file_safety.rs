//! Issue 10, case by case: users' files are never destroyed, output never lies, every input
//! costs bounded time and memory. Each test names the case it checks. Unix only (FIFOs, device
//! nodes, permissions, rlimits).
#![cfg(unix)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use avm_jit_core::avm::{Pack, PackBuilder};
use common::*;

const MAIN: usize = 0x18_0000;

/// The AVM at main.avm's place in a flash image.
fn main_avm_of(image: &[u8]) -> Vec<u8> {
    let pack = Pack::parse(&image[MAIN..]).expect("main.avm in the image");
    image[MAIN..MAIN + pack.len()].to_vec()
}

fn flash_image<P: AsRef<Path>>(image: P, avm: P) -> Run {
    run(&[
        "flash".as_ref(),
        "--mode".as_ref(),
        "jit".as_ref(),
        "--image".as_ref(),
        image.as_ref().as_os_str(),
        avm.as_ref().as_os_str(),
    ])
}

/// A second application: the example with one module less.
fn other_avm() -> Vec<u8> {
    let avm = example_avm();
    let pack = Pack::parse(&avm).unwrap();
    let mut b = PackBuilder::new();
    for s in pack.sections().iter().take(pack.sections().len() - 1) {
        b.section(s.name, s.flags, s.data).unwrap();
    }
    b.finish()
}

// Case 1: `flash --image` wrote `PATH.avm-jit-tmp` and renamed it over whatever PATH was.

#[test]
fn case1_image_that_is_not_a_regular_file_is_refused_and_kept() {
    let dir = scratch("case1_special");
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    // A device node of our own (a broken build must not get to replace the machine's /dev/null).
    match device_node(&dir, "null") {
        Some(node) => {
            flash_image(&node, &app).refused(&["null", "not a regular file"]);
            let meta = std::fs::symlink_metadata(&node).unwrap();
            assert!(
                meta.file_type().is_char_device_like(),
                "the device node was replaced"
            );
            std::fs::remove_file(&node).unwrap();
        }
        None => eprintln!("case1: mknod not allowed here; the device part is skipped"),
    }

    let fifo = dir.join("flash.fifo");
    mkfifo(&fifo);
    flash_image(&fifo, &app).refused(&["flash.fifo", "not a regular file"]);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo_like());

    let sub = dir.join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    flash_image(&sub, &app).refused(&["a-directory", "not a regular file"]);
    assert!(sub.is_dir());
    assert_eq!(listing(&dir), ["a-directory", "app.avm", "flash.fifo"]);
}

trait FileTypeLike {
    fn is_char_device_like(&self) -> bool;
    fn is_fifo_like(&self) -> bool;
}

impl FileTypeLike for std::fs::FileType {
    fn is_char_device_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_char_device()
    }
    fn is_fifo_like(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        self.is_fifo()
    }
}

#[test]
fn case1_symlinked_image_updates_its_target_and_stays_a_link() {
    let dir = scratch("case1_symlink");
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    std::fs::create_dir(dir.join("images")).unwrap();
    let real = dir.join("images/real.bin");
    std::fs::write(&real, vec![0xFFu8; 4096]).unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.join("link.bin");
    std::os::unix::fs::symlink("images/real.bin", &link).unwrap();

    flash_image(&link, &app).ok();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let image = std::fs::read(&real).unwrap();
    assert_eq!(image.len(), 2 << 20);
    assert_eq!(main_avm_of(&image), example_avm());
    let mode = std::fs::metadata(&real).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o640, "permissions of the image were not kept");
    assert_eq!(
        listing(&dir.join("images")),
        ["real.bin"],
        "a temp file was left"
    );
}

#[test]
fn case1_read_only_image_is_refused_and_untouched() {
    let dir = scratch("case1_readonly");
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    let image = dir.join("flash.bin");
    std::fs::write(&image, b"keep me").unwrap();
    std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o444)).unwrap();
    flash_image(&image, &app).refused(&["flash.bin", "read-only"]);
    assert_eq!(std::fs::read(&image).unwrap(), b"keep me");
    let uf2 = dir.join("out.uf2");
    std::fs::write(&uf2, b"old uf2").unwrap();
    std::fs::set_permissions(&uf2, std::fs::Permissions::from_mode(0o444)).unwrap();
    run(&[
        "flash".as_ref(),
        "--uf2".as_ref(),
        uf2.as_os_str(),
        app.as_os_str(),
    ])
    .refused(&["out.uf2", "read-only"]);
    assert_eq!(std::fs::read(&uf2).unwrap(), b"old uf2");
}

/// Case 1 as another user: an image the user may not write is refused even when its directory
/// would let a rename replace it. Needs root (to run avm-jit as `nobody`); skipped otherwise.
#[test]
fn case1_image_the_user_cannot_write_is_refused_in_a_writable_directory() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("case1 other user: not root, skipped");
        return;
    }
    let dir = scratch("case1_other_user");
    // `nobody` must be able to reach the binary and the scratch directory (not so in a clone
    // under a private home directory).
    let reachable = |path: &Path| {
        path.ancestors()
            .skip(1)
            .all(|d| std::fs::metadata(d).is_ok_and(|m| m.mode() & 0o001 != 0))
    };
    if !reachable(Path::new(bin())) || !reachable(&dir.join("x")) {
        eprintln!("case1 other user: the build is not reachable by other users, skipped");
        return;
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    let image = dir.join("flash.bin");
    std::fs::write(&image, b"root's image").unwrap();
    std::fs::set_permissions(&image, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_with(
        &[
            "flash".as_ref(),
            "--mode".as_ref(),
            "jit".as_ref(),
            "--image".as_ref(),
            image.as_os_str(),
            app.as_os_str(),
        ],
        Duration::from_secs(30),
        |cmd| {
            cmd.uid(65534).gid(65534);
        },
    );
    out.refused(&["flash.bin", "not writable by you"]);
    assert_eq!(std::fs::read(&image).unwrap(), b"root's image");
    assert_eq!(std::fs::metadata(&image).unwrap().uid(), 0);
}

#[test]
fn case1_images_differing_in_extension_do_not_swap_contents() {
    let dir = scratch("case1_concurrent");
    let a = dir.join("a.avm");
    let b = dir.join("b.avm");
    std::fs::write(&a, example_avm()).unwrap();
    std::fs::write(&b, other_avm()).unwrap();
    // Before: both wrote `flash.avm-jit-tmp`; concurrent runs swapped contents and exited 0.
    for round in 0..6 {
        let spawn = |image: &str, avm: &Path| {
            std::process::Command::new(bin())
                .args(["flash", "--mode", "jit", "--image"])
                .arg(dir.join(image))
                .arg(avm)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let mut p = spawn("flash.img", &a);
        let mut q = spawn("flash.bin", &b);
        assert!(p.wait().unwrap().success() && q.wait().unwrap().success());
        let img = std::fs::read(dir.join("flash.img")).unwrap();
        let bin = std::fs::read(dir.join("flash.bin")).unwrap();
        assert_eq!(main_avm_of(&img), example_avm(), "round {round}");
        assert_eq!(main_avm_of(&bin), other_avm(), "round {round}");
    }
    assert_eq!(listing(&dir), ["a.avm", "b.avm", "flash.bin", "flash.img"]);
}

// Case 2: inputs overwritten; outputs compared by name only.

#[test]
fn case2_no_output_may_be_an_input_or_another_output() {
    let dir = scratch("case2");
    let app = dir.join("app.avm");
    let avm = example_avm();
    std::fs::write(&app, &avm).unwrap();
    let beam = example_beam("hello_pico");
    let h = dir.join("h.beam");
    std::fs::write(&h, &beam).unwrap();

    flash_image(&app, &app).refused(&["app.avm", "input"]);
    run(&[
        "flash".as_ref(),
        "--uf2".as_ref(),
        app.as_os_str(),
        app.as_os_str(),
    ])
    .refused(&["app.avm", "input"]);
    let lib = dir.join("lib.avm");
    std::fs::hard_link(&app, &lib).unwrap();
    run(&[
        "flash".as_ref(),
        "--mode".as_ref(),
        "jit".as_ref(),
        "--image".as_ref(),
        lib.as_os_str(),
        app.as_os_str(),
    ])
    .refused(&["lib.avm", "input"]);
    run(&["pack".as_ref(), "-o".as_ref(), h.as_os_str(), h.as_os_str()])
        .refused(&["h.beam", "input"]);
    assert_eq!(std::fs::read(&app).unwrap(), avm);
    assert_eq!(std::fs::read(&h).unwrap(), beam);

    // A hard link to the input where compile's output goes.
    std::fs::hard_link(&h, dir.join("h.jit.beam")).unwrap();
    run(&["compile".as_ref(), h.as_os_str()]).refused(&["h.jit.beam", "input"]);
    assert_eq!(std::fs::read(&h).unwrap(), beam);
    std::fs::remove_file(dir.join("h.jit.beam")).unwrap();

    // A symbolic link to the input as the output.
    std::os::unix::fs::symlink("h.beam", dir.join("out.beam")).unwrap();
    run(&[
        "compile".as_ref(),
        "-o".as_ref(),
        dir.join("out.beam").as_os_str(),
        h.as_os_str(),
    ])
    .refused(&["out.beam", "input"]);
    assert_eq!(std::fs::read(&h).unwrap(), beam);
    std::fs::remove_file(dir.join("out.beam")).unwrap();

    // Two inputs, one output: refused before anything is written.
    for d in ["d1", "d2"] {
        std::fs::create_dir(dir.join(d)).unwrap();
        std::fs::write(dir.join(d).join("m.beam"), &beam).unwrap();
    }
    let out = dir.join("d");
    run(&[
        "compile".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
        dir.join("d1/m.beam").as_os_str(),
        dir.join("d2/m.beam").as_os_str(),
    ])
    .refused(&["m.beam", "two outputs"]);
    assert!(listing(&out).is_empty(), "something was written");

    // `compile h.beam h.jit.beam`: the first output is the second input.
    let second = dir.join("h.jit.beam");
    std::fs::write(&second, &beam).unwrap();
    run(&["compile".as_ref(), h.as_os_str(), second.as_os_str()]).refused(&["h.jit.beam", "input"]);
    assert_eq!(std::fs::read(&second).unwrap(), beam);
    assert!(!dir.join("h.jit.jit.beam").exists());
}

// Case 3: disk full left partial files and truncated existing outputs.

/// Run with writes past `bytes` failing (RLIMIT_FSIZE: the kernel refuses the write with EFBIG,
/// the same failed write(2) a full disk gives with ENOSPC).
fn run_with_file_limit<S: AsRef<std::ffi::OsStr>>(args: &[S], bytes: u64) -> Run {
    run_with(args, Duration::from_secs(60), |cmd| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let limit = libc::rlimit {
                    rlim_cur: bytes as libc::rlim_t,
                    rlim_max: bytes as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// Every output command against a write that fails half-way: the old output is intact and no
/// temporary file is left.
fn outputs_survive_failed_writes(dir: &Path, fail: &dyn Fn(&[&std::ffi::OsStr]) -> Run) {
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    let h = dir.join("h.beam");
    std::fs::write(&h, example_beam("hello_pico")).unwrap();
    let old = b"the old output, complete".to_vec();
    let outs = dir.join("outs");
    std::fs::create_dir(&outs).unwrap();
    let cases: Vec<(&str, Vec<std::ffi::OsString>)> = vec![
        (
            "app.avm",
            vec![
                "compile".into(),
                "-o".into(),
                outs.join("app.avm").into(),
                app.clone().into(),
            ],
        ),
        (
            "h.beam",
            vec![
                "compile".into(),
                "-o".into(),
                outs.join("h.beam").into(),
                h.clone().into(),
            ],
        ),
        (
            "packed.avm",
            vec![
                "pack".into(),
                "-o".into(),
                outs.join("packed.avm").into(),
                h.clone().into(),
            ],
        ),
        (
            "app.uf2",
            vec![
                "flash".into(),
                "--mode".into(),
                "jit".into(),
                "--uf2".into(),
                outs.join("app.uf2").into(),
                app.clone().into(),
            ],
        ),
        (
            "flash.bin",
            vec![
                "flash".into(),
                "--mode".into(),
                "jit".into(),
                "--image".into(),
                outs.join("flash.bin").into(),
                app.clone().into(),
            ],
        ),
    ];
    for (name, args) in &cases {
        let target = outs.join(name);
        std::fs::write(&target, &old).unwrap();
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        fail(&args).refused(&[name]);
        assert_eq!(std::fs::read(&target).unwrap(), old, "{name} was changed");
        std::fs::remove_file(&target).unwrap();
        fail(&args).refused(&[name]);
        assert!(!target.exists(), "a partial {name} was left");
        assert!(
            listing(&outs).is_empty(),
            "left behind: {:?}",
            listing(&outs)
        );
    }
}

#[test]
fn case3_failed_writes_leave_old_outputs_whole_and_no_temp_files() {
    let dir = scratch("case3_rlimit");
    outputs_survive_failed_writes(&dir, &|args| run_with_file_limit(args, 256));
}

/// The same on a real full file system, where this test may mount one (root on Linux).
#[test]
fn case3_full_disk_leaves_old_outputs_whole_and_no_temp_files() {
    let dir = scratch("case3_tmpfs");
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=48k", "tmpfs"])
        .arg(&mnt)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!(
            "case3_full_disk: cannot mount a tmpfs here; the rlimit test covers the write path"
        );
        return;
    }
    let result = std::panic::catch_unwind(|| {
        // Before each run, whatever space is left is taken by a filler file.
        let filler = mnt.join("filler");
        outputs_survive_failed_writes(&mnt, &|args| {
            let mut f = std::fs::File::create(&filler).unwrap();
            let block = [0u8; 512];
            while std::io::Write::write_all(&mut f, &block).is_ok() {}
            drop(f);
            let r = run(args);
            std::fs::remove_file(&filler).unwrap();
            assert!(
                r.stderr.contains("No space left"),
                "not ENOSPC: {}",
                r.stderr
            );
            r
        });
    });
    let _ = std::process::Command::new("umount").arg(&mnt).status();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

// Case 5: the same validation everywhere.

/// An image holding the example application, flashed in jit mode.
fn flashed_image(dir: &Path) -> std::path::PathBuf {
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    let image = dir.join("flash.bin");
    flash_image(&image, &app).ok();
    image
}

#[test]
fn case5_info_image_fails_when_it_reports_problems() {
    let dir = scratch("case5_problems");
    let image = flashed_image(&dir);
    let out = run(&["info".as_ref(), "--image".as_ref(), image.as_os_str()]);
    assert!(!out.ok().contains("problem:"));
    let mut bytes = std::fs::read(&image).unwrap();
    bytes[MAIN + 24..MAIN + 28].copy_from_slice(&[0, 0, 0, 5]);
    std::fs::write(&image, &bytes).unwrap();
    let out = run(&["info".as_ref(), "--image".as_ref(), image.as_os_str()]);
    assert!(out.stdout().contains("problem: main.avm"), "{out:?}");
    assert_eq!(out.code, Some(1), "problems reported with exit 0");
}

/// `beam` with the u32 at `at` within chunk `id`'s data set to 0xFFFFFFFF.
fn with_huge_count(beam: &[u8], id: &[u8; 4], at: usize) -> Vec<u8> {
    let (start, _) = chunk_data(beam, id).unwrap();
    let mut b = beam.to_vec();
    b[start + at..start + at + 4].copy_from_slice(&[0xFF; 4]);
    b
}

#[test]
fn case5_tables_that_info_refuses_are_refused_by_compile_pack_and_flash() {
    let dir = scratch("case5_tables");
    let beam = example_beam("error_demo");
    for (id, at) in [(b"ExpT", 0), (b"LocT", 0), (b"FunT", 0), (b"Line", 12)] {
        let name = format!("bad_{}", std::str::from_utf8(id).unwrap());
        let path = dir.join(format!("{name}.beam"));
        std::fs::write(&path, with_huge_count(&beam, id, at)).unwrap();
        run(&["info".as_ref(), path.as_os_str()]).refused(&[&name]);
        let out = dir.join(format!("{name}.out.beam"));
        run(&[
            "compile".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            path.as_os_str(),
        ])
        .refused(&[&name]);
        assert!(!out.exists(), "compile wrote {name}");
        let avm = dir.join(format!("{name}.avm"));
        run(&[
            "pack".as_ref(),
            "-o".as_ref(),
            avm.as_os_str(),
            path.as_os_str(),
        ])
        .refused(&[&name]);
        assert!(!avm.exists(), "pack wrote {name}");
    }

    // flash --mode jit: an AVM whose start module is damaged (aot mode refused it already).
    let app = example_avm();
    let pack = Pack::parse(&app).unwrap();
    let start = pack.start_module().unwrap();
    let mut b = PackBuilder::new();
    for s in pack.sections() {
        if s.offset == start.offset {
            b.section(s.name, s.flags, &with_huge_count(s.data, b"ExpT", 0))
                .unwrap();
        } else {
            b.section(s.name, s.flags, s.data).unwrap();
        }
    }
    let bad = dir.join("bad_start.avm");
    std::fs::write(&bad, b.finish()).unwrap();
    let image = dir.join("flash.bin");
    for mode in ["jit", "aot"] {
        run(&[
            "flash".as_ref(),
            "--mode".as_ref(),
            mode.as_ref(),
            "--image".as_ref(),
            image.as_os_str(),
            bad.as_os_str(),
        ])
        .refused(&["bad_start.avm", "not a valid AVM"]);
    }
    assert!(!image.exists());
}

#[test]
fn case5_two_sections_of_one_name_are_refused() {
    let dir = scratch("case5_dupes");
    let h = dir.join("h.beam");
    std::fs::write(&h, example_beam("hello_pico")).unwrap();
    let packed = dir.join("hh.avm");
    run(&[
        "pack".as_ref(),
        "-o".as_ref(),
        packed.as_os_str(),
        h.as_os_str(),
        h.as_os_str(),
    ])
    .refused(&["h.beam", "hello_pico"]);
    assert!(!packed.exists());

    let mut b = PackBuilder::new();
    b.beam("hello_pico", &example_beam("hello_pico"), true)
        .unwrap();
    b.beam("hello_pico", &example_beam("hello_pico"), true)
        .unwrap();
    let dupes = dir.join("dupes.avm");
    std::fs::write(&dupes, b.finish()).unwrap();
    run(&["info".as_ref(), dupes.as_os_str()]).refused(&["dupes.avm", "same name"]);
    let out = dir.join("dupes.jit.avm");
    run(&["compile".as_ref(), dupes.as_os_str()]).refused(&["dupes.avm", "same name"]);
    assert!(!out.exists());
    for mode in ["jit", "aot"] {
        run(&[
            "flash".as_ref(),
            "--mode".as_ref(),
            mode.as_ref(),
            "--uf2".as_ref(),
            dir.join("x.uf2").as_os_str(),
            dupes.as_os_str(),
        ])
        .refused(&["dupes.avm", "same name"]);
    }
    assert!(!dir.join("x.uf2").exists());
}

/// A compact-term argument (tag: 0 literal, 2 atom).
fn compact(out: &mut Vec<u8>, tag: u8, v: u32) {
    if v < 16 {
        out.push(((v as u8) << 4) | tag);
    } else if v < 2048 {
        out.push((((v >> 3) as u8) & 0xE0) | 0x08 | tag);
        out.push(v as u8);
    } else {
        let mut bytes = v.to_be_bytes().to_vec();
        while bytes.len() > 2 && bytes[0] == 0 && bytes[1] < 0x80 {
            bytes.remove(0);
        }
        out.push((((bytes.len() - 2) as u8) << 5) | 0x18 | tag);
        out.extend_from_slice(&bytes);
    }
}

/// A module `big` of `functions` functions `f/0`, two labels each, that just return.
fn module_with_functions(functions: u32) -> Vec<u8> {
    let mut code = Vec::new();
    for i in 0..functions {
        code.push(1); // label
        compact(&mut code, 0, 2 * i + 1);
        code.push(2); // func_info
        compact(&mut code, 2, 1);
        compact(&mut code, 2, 2);
        compact(&mut code, 0, 0);
        code.push(1);
        compact(&mut code, 0, 2 * i + 2);
        code.push(19); // return
    }
    code.push(3); // int_code_end
    let mut code_chunk = Vec::new();
    for v in [16u32, 0, 169, 2 * functions + 1, functions] {
        code_chunk.extend_from_slice(&v.to_be_bytes());
    }
    code_chunk.extend_from_slice(&code);
    let mut atoms = 2i32.to_be_bytes().to_vec();
    for a in [b"big".as_slice(), b"f"] {
        atoms.push(a.len() as u8);
        atoms.extend_from_slice(a);
    }
    let mut exports = 1u32.to_be_bytes().to_vec();
    for v in [2u32, 0, 2] {
        exports.extend_from_slice(&v.to_be_bytes());
    }
    avm_jit_core::beam::write_module(&[
        (*b"AtU8", &atoms),
        (*b"Code", &code_chunk),
        (*b"StrT", &[]),
        (*b"ImpT", &0u32.to_be_bytes()),
        (*b"ExpT", &exports),
    ])
}

#[test]
fn case5_more_labels_than_16_bits_count_is_refused() {
    let dir = scratch("case5_labels");
    // Below the limit the module compiles and info reads the result back.
    let small = dir.join("small.beam");
    std::fs::write(&small, module_with_functions(100)).unwrap();
    run(&["compile".as_ref(), small.as_os_str()]).ok();
    run(&["info".as_ref(), dir.join("small.jit.beam").as_os_str()]).ok();
    // 65,537 labels: the avmN tables count them in 16 bits.
    let big = dir.join("big.beam");
    std::fs::write(&big, module_with_functions(32_768)).unwrap();
    run(&["info".as_ref(), big.as_os_str()]).ok();
    // The module's own limit, said without an offset (there is no place in the input for it).
    let out = run(&["compile".as_ref(), big.as_os_str()]);
    out.refused(&["big", "label count", "too large (65537 > 65535)"]);
    assert!(!out.stderr.contains("offset"), "{}", out.stderr);
    assert!(!dir.join("big.jit.beam").exists());
}

// Case 6: numbers in messages come from checked arithmetic and name the argument.

#[test]
fn case6_out_of_range_arguments_are_named_not_wrapped() {
    let dir = scratch("case6");
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    let image = dir.join("flash.bin");
    let out = run(&[
        "flash".as_ref(),
        "--mode".as_ref(),
        "jit".as_ref(),
        "--address".as_ref(),
        "0xFFFFF000".as_ref(),
        "--image".as_ref(),
        image.as_os_str(),
        app.as_os_str(),
    ]);
    out.refused(&["--address", "0xfffff000", "outside the flash"]);
    assert!(!out.stderr.contains("4294967295"), "{}", out.stderr);
    let out = run(&[
        "info".as_ref(),
        "--address".as_ref(),
        "0xFFFFF000".as_ref(),
        app.as_os_str(),
    ]);
    out.refused(&["--address", "0xfffff000"]);
    assert!(!out.stdout().contains("0x00000000"));
    flash_image(&image, &app).ok();
    // Case 8 too: no 3.9 GB allocation on the way.
    let out = run_in(
        &[
            "info".as_ref(),
            "--image".as_ref(),
            image.as_os_str(),
            "--flash-size".as_ref(),
            "0xF0000000".as_ref(),
        ],
        SMALL_MEMORY,
        Duration::from_secs(20),
    );
    out.refused(&["--flash-size", "0xf0000000"]);
    assert!(!out.stdout().contains("outside the flash"));
    // An AVM that does not fit below the end of the flash: said so, not a wrapped address.
    let out = run(&[
        "info".as_ref(),
        "--address".as_ref(),
        "0x101ff000".as_ref(),
        app.as_os_str(),
    ])
    .ok();
    assert!(out.contains("past the end of the flash"), "{out}");
}

// Case 7: inputs are regular files, checked before they are read, and capped.

fn every_command_on(input: &Path, dir: &Path) -> Vec<(String, Run)> {
    let image = dir.join("image.bin");
    let commands: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["info".into(), input.into()],
        vec!["info".into(), "--json".into(), input.into()],
        vec![
            "compile".into(),
            "-o".into(),
            dir.join("out").into(),
            input.into(),
        ],
        vec![
            "flash".into(),
            "--mode".into(),
            "jit".into(),
            "--image".into(),
            image.clone().into(),
            input.into(),
        ],
        vec![
            "flash".into(),
            "--uf2".into(),
            dir.join("o.uf2").into(),
            input.into(),
        ],
        vec!["disasm".into(), input.into()],
        vec!["compare".into(), input.into(), input.into()],
        vec![
            "pack".into(),
            "-o".into(),
            dir.join("o.avm").into(),
            input.into(),
        ],
        vec!["info".into(), "--image".into(), input.into()],
    ];
    commands
        .into_iter()
        .map(|args| {
            let shown = format!("{args:?}");
            (shown, run_in(&args, SMALL_MEMORY, Duration::from_secs(20)))
        })
        .collect()
}

#[test]
fn case7_fifos_devices_and_huge_files_are_refused_at_once() {
    let dir = scratch("case7");
    let fifo = dir.join("input.beam");
    mkfifo(&fifo);
    for (cmd, out) in every_command_on(&fifo, &dir) {
        assert_eq!(out.code, Some(1), "{cmd}: {out:?}");
        assert!(
            out.stderr.contains("not a regular file"),
            "{cmd}: {}",
            out.stderr
        );
    }
    for (cmd, out) in every_command_on(Path::new("/dev/zero"), &dir) {
        assert_eq!(out.code, Some(1), "{cmd}: {out:?}");
    }
    // 2 GiB, sparse: refused from its first bytes and its size, not read whole.
    for (name, head) in [("huge.beam", b"FOR1".as_slice()), ("junk.beam", b"JUNK")] {
        let path = dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        std::io::Write::write_all(&mut &f, head).unwrap();
        f.set_len(2 << 30).unwrap();
        for (cmd, out) in every_command_on(&path, &dir) {
            assert_eq!(out.code, Some(1), "{cmd}: {out:?}");
            assert!(out.stderr.contains(name), "{cmd}: {}", out.stderr);
        }
        std::fs::remove_file(&path).unwrap();
    }
    assert!(!dir.join("image.bin").exists() && !dir.join("o.avm").exists());
}

// Case 8: memory linear in the input, with a small factor.

#[test]
fn case8_info_on_an_avm_of_tiny_sections_stays_small() {
    let dir = scratch("case8");
    // 120,000 sections of 24 bytes (2.9 MB): before, `info` took ~30x the file size (over
    // 100 MB); now the file, the pack's section list and one section's description at a time.
    let mut b = PackBuilder::new();
    for i in 0..120_000 {
        b.file(&format!("f{i}"), &[]).unwrap();
    }
    let path = dir.join("tiny.avm");
    std::fs::write(&path, b.finish()).unwrap();
    for json in [false, true] {
        let mut args = vec!["info".as_ref(), path.as_os_str()];
        if json {
            args.push("--json".as_ref());
        }
        let out = run_in(&args, SMALL_MEMORY, Duration::from_secs(60));
        assert_eq!(
            out.code,
            Some(0),
            "json {json}: {:?} {}",
            out.signal,
            out.stderr
        );
        assert!(out.stdout().contains("f119999"));
    }
}

// Case 9: standard output that cannot be written.

/// A pipe whose reading end is already closed, as `avm-jit ... | head` meets it.
fn closed_pipe() -> std::fs::File {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are ours; the reading end is closed once, here.
    unsafe {
        libc::close(fds[0]);
        std::fs::File::from_raw_fd(fds[1])
    }
}

#[test]
fn case9_full_or_closed_stdout_is_an_error_not_a_panic() {
    let dir = scratch("case9");
    let app = dir.join("app.avm");
    std::fs::write(&app, example_avm()).unwrap();
    let jit = dir.join("app.jit.avm");
    run(&["compile".as_ref(), app.as_os_str()]).ok();
    let image = dir.join("flash.bin");
    let commands: Vec<Vec<std::ffi::OsString>> = vec![
        vec!["info".into(), jit.clone().into()],
        vec!["info".into(), "--json".into(), jit.clone().into()],
        vec!["disasm".into(), jit.clone().into()],
        vec!["compare".into(), jit.clone().into(), jit.clone().into()],
        vec![
            "flash".into(),
            "--mode".into(),
            "jit".into(),
            "--image".into(),
            image.clone().into(),
            app.clone().into(),
        ],
        vec!["info".into(), "--image".into(), image.clone().into()],
    ];
    for args in &commands {
        let full = run_with(args, Duration::from_secs(30), |cmd| {
            cmd.stdout(std::fs::File::create("/dev/full").unwrap());
        });
        full.refused(&["cannot write to standard output"]);
        let closed = run_with(args, Duration::from_secs(30), |cmd| {
            cmd.stdout(closed_pipe());
        });
        assert_eq!(closed.code, Some(1), "{args:?}: {closed:?}");
        assert_eq!(
            closed.stderr, "",
            "{args:?}: a closed pipe is not worth a message"
        );
    }
}

// Case 10: one convention for exit codes, documented.

#[test]
fn case10_exit_codes_are_0_1_2_and_documented() {
    let usage = run(&["compile"]);
    assert_eq!(usage.code, Some(2), "{usage:?}");
    assert_eq!(run(&["frobnicate"]).code, Some(2));
    run(&["info", "/nonexistent/x.beam"]).refused(&["x.beam"]);
    let help = run(&["--help"]).ok();
    assert!(help.contains("Exit status: 0 success; 1 failure"), "{help}");
    assert!(help.contains("2 usage error"), "{help}");
    let readme =
        std::fs::read_to_string(avm_jit_tests::workspace_root().join("README.md")).unwrap();
    assert!(
        readme.contains("exits with 0 on success, 1 on failure and 2 on a usage error"),
        "README does not document the exit codes"
    );
}
