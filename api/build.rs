//! Link settings for the `jobintel` binary.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").as_deref() == Ok("release");
    let target = std::env::var("TARGET").unwrap_or_default();
    // Packed relative relocations (DT_RELR, glibc ≥ 2.36 — Debian bookworm, the Dockerfile's
    // base): the position-independent binary carried 1.9 MB of R_X86_64_RELATIVE entries that
    // the loader reads, every one, at start-up — 1.9 MB of idle RSS for nothing. Packed, they
    // are a few KiB. PIE (and so ASLR) stays. `scripts/idle-rss.sh` measures it.
    if release && target.contains("linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
