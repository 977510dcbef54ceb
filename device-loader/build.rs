//! Link from SRAM with our own script.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo:rustc-link-search={dir}");
    println!("cargo:rustc-link-arg-bins=-Tloader.x");
    println!("cargo:rerun-if-changed=loader.x");
}
