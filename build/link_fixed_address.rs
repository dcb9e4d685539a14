// The build script of the binaries that run once per pod or container
// (`containerd-shim-wasmpod-v1`, `wasmpod-oci`): it links them at a fixed
// address instead of as position-independent executables. The dynamic
// loader then relocates only a few GOT entries instead of a megabyte of
// pointers, so each process shares the binary's pages with every other
// from the page cache instead of holding a private copy. SECURITY.md
// ("Fixed addresses for the per-pod binaries") states the trade-off and
// docs/benchmarks.md the gain. WASMPOD_PIE=1 at build time keeps
// position-independent executables.
fn main() {
    println!("cargo:rerun-if-env-changed=WASMPOD_PIE");
    let pie = std::env::var("WASMPOD_PIE").is_ok_and(|v| !v.is_empty() && v != "0");
    // `-no-pie` is a flag of the C compiler driver that links for glibc
    // targets; musl builds (static-pie) and other linkers keep their own.
    let glibc_linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if glibc_linux && !pie {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
