//! Paths of the guest programs that wasmpod's tests run.
//!
//! `build.rs` compiles them into this crate's `OUT_DIR`: C guests (from
//! `tests/guests/*.c` and `examples/*/*.c`) as WASI preview 1 modules named
//! after the file (`PROBE`, `HELLO`), WAT fixtures (core modules, and WASI
//! 0.2 and 0.3 components written by hand, `p3-*.wat` for 0.3) both as text
//! (`*_WAT`) and binary (`*_WAT_WASM`), and the probe as a WASI 0.2 component
//! (`PROBE_COMPONENT`), the Go guest in `tests/guests/go` built by Go's
//! own toolchain for `wasip1` (`GO_PROBE`), and `tests/native/*.c` as static native programs
//! (`PAUSE_NATIVE`, the test pod image's sandbox program). Every path is
//! inside `OUT_DIR`, never inside the checkout, because several checkouts
//! may share one target dir.

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
