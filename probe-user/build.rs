//! Embeds the XDP program built by `cargo xtask build-ebpf` when it is there.
//! Without it the probe still builds (stable alone is enough) and
//! `--capture xdp` says how to get it. `OCELLUS_EBPF_OBJ` names another object.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OCELLUS_EBPF_OBJ");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let obj = match std::env::var_os("OCELLUS_EBPF_OBJ") {
        Some(p) => PathBuf::from(p),
        None => manifest.join("../target/ebpf/bpfel-unknown-none/release/ocellus-xdp"),
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("ocellus-xdp.o");
    let bytes = if obj.is_file() {
        // Only an existing file is watched: a missing one would rerun this
        // script (and rebuild the crate) on every build. `xtask build-ebpf`
        // touches this script so a newly built object is picked up.
        println!("cargo:rerun-if-changed={}", obj.display());
        std::fs::read(&obj).unwrap_or_default()
    } else {
        Vec::new()
    };
    if let Err(e) = std::fs::write(&out, bytes) {
        panic!("cannot write {}: {e}", out.display());
    }
}
