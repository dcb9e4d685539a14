//! Compiles the test guests: every `tests/guests/*.c` and `examples/*/*.c`
//! with Debian's clang and wasi-libc into WASI preview 1 modules, every
//! `tests/guests/*.wat` into its binary (a core module, or a component:
//! WASI 0.3 ones use the component model's async ABI, which the `wat`
//! crate encodes and wasmtime validates when it loads them, with the
//! engine's async features on), and the probe module into a
//! WASI 0.2 command component through the preview 1 adapter (what
//! `wasm-tools component new --adapt` does).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // Relative to this package (a build script runs in its package root), so
    // `rerun-if-changed` names this checkout's files: an absolute path would
    // follow whichever checkout last built into a shared target dir.
    let root = PathBuf::from("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let clang = std::env::var("WASMPOD_CLANG").unwrap_or_else(|_| "clang".into());
    println!("cargo:rerun-if-env-changed=WASMPOD_CLANG");

    let mut consts = String::new();
    let mut sources: Vec<PathBuf> = files(&root.join("tests/guests"), "c");
    for example in std::fs::read_dir(root.join("examples")).expect("examples/") {
        let example = example.expect("examples entry").path();
        if example.is_dir() {
            sources.extend(files(&example, "c"));
        }
    }
    for src in &sources {
        println!("cargo:rerun-if-changed={}", src.display());
        let name = src
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let wasm = out.join(format!("{name}.wasm"));
        let status = Command::new(&clang)
            .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Werror", "-o"])
            .arg(&wasm)
            .arg(src)
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run {clang}: {e}. Run `make setup` (installs clang, lld, wasi-libc and libclang-rt-dev-wasm32)")
            });
        assert!(status.success(), "{clang} failed on {}", src.display());
        consts.push_str(&constant(name, "", &wasm));
    }
    let mut wat_sources = files(&root.join("tests/guests"), "wat");
    for example in std::fs::read_dir(root.join("examples")).expect("examples/") {
        let example = example.expect("examples entry").path();
        if example.is_dir() {
            wat_sources.extend(files(&example, "wat"));
        }
    }
    for src in wat_sources {
        println!("cargo:rerun-if-changed={}", src.display());
        let name = src
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let binary = wat::parse_file(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let wasm = out.join(format!("{name}.wat.wasm"));
        std::fs::write(&wasm, binary).expect("write wat output");
        consts.push_str(&constant(name, "_WAT_WASM", &wasm));
        // The text itself is copied next to the binaries: a path into this
        // checkout would outlive it in a target dir shared by checkouts.
        let text = out.join(format!("{name}.wat"));
        std::fs::copy(&src, &text).expect("copy wat");
        consts.push_str(&constant(name, "_WAT", &text));
    }

    // Native helpers (the test pod image's pause program), static so they
    // run in an image with nothing else in it.
    for src in files(&root.join("tests/native"), "c") {
        println!("cargo:rerun-if-changed={}", src.display());
        let name = src
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let bin = out.join(format!("{name}.native"));
        let status = Command::new(&clang)
            .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
            .arg(&bin)
            .arg(&src)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {clang}: {e}. Run `make setup`"));
        assert!(
            status.success(),
            "{clang} -static failed on {} (libc6-dev installed?)",
            src.display()
        );
        consts.push_str(&constant(name, "_NATIVE", &bin));
    }

    // The probe as a WASI 0.2 command component.
    let module = std::fs::read(out.join("probe.wasm")).expect("probe.wasm");
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|e| {
            e.adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
            )
        })
        .and_then(|e| e.validate(true).encode())
        .expect("componentize probe");
    let path = out.join("probe.component.wasm");
    std::fs::write(&path, component).expect("write component");
    consts.push_str(&constant("probe", "_COMPONENT", &path));

    consts.push_str(&go_probe(&root.join("tests/guests/go"), &out));

    std::fs::write(out.join("guests.rs"), consts).expect("write guests.rs");
}

/// Builds the Go guest with Go's own toolchain (`GOOS=wasip1
/// GOARCH=wasm`), as Go users make WASI modules. `WASMPOD_GO` names the
/// `go` binary (default: `go` on the PATH).
fn go_probe(dir: &Path, out: &Path) -> String {
    println!("cargo:rerun-if-env-changed=WASMPOD_GO");
    for src in files(dir, "go").into_iter().chain([dir.join("go.mod")]) {
        println!("cargo:rerun-if-changed={}", src.display());
    }
    let go = std::env::var("WASMPOD_GO").unwrap_or_else(|_| "go".into());
    let wasm = out.join("go-probe.wasm");
    let status = Command::new(&go)
        .args(["build", "-trimpath", "-buildvcs=false", "-o"])
        .arg(&wasm)
        .arg(".")
        .current_dir(dir)
        .env("GOOS", "wasip1")
        .env("GOARCH", "wasm")
        // The module needs nothing but the standard library.
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run {go}: {e}. Run `make setup` (installs Go 1.21 or newer)")
        });
    assert!(status.success(), "{go} build failed on {}", dir.display());
    constant("go-probe", "", &wasm)
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn constant(name: &str, suffix: &str, path: &Path) -> String {
    let ident = format!("{}{}", name.to_uppercase().replace('-', "_"), suffix);
    format!(
        "/// `{}`\npub const {ident}: &str = {:?};\n",
        path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
        path.display().to_string()
    )
}
