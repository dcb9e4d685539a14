//! Images end to end: `wasmpod push/pull/images/inspect/rmi/login/logout`
//! and `wasmpod run REF` against Debian's docker-registry on 127.0.0.1,
//! with skopeo and umoci as independent clients. The `daemon` test tier;
//! `pull_faults.rs` has the pulls that need no registry.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use wasmpod_oci::image::BuiltImage;
use wasmpod_oci::manifest::{Descriptor, ImageIndex, Platform};
use wasmpod_oci::{Digest, ImageRef, NoProgress, media};
use wasmpod_test_guests as guests;
use wasmpod_testkit::{Auth, Canned, FaultServer, Proxy, Registry, TokenIssuer};

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is not installed: run `make setup`");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The manifest of `reference` as skopeo (not wasmpod) reads it.
fn remote_manifest(reference: &str) -> serde_json::Value {
    json(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]))
}

/// The config of `reference` as skopeo reads it.
fn remote_config(reference: &str) -> serde_json::Value {
    json(&skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]))
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn push_artifact_is_readable_by_skopeo_and_runs_by_reference() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/tools/probe:v1", reg.addr());
    let o = w.exec(&["push", guests::PROBE, &reference]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).starts_with(&format!(
            "Pushed {reference} (Wasm artifact, digest sha256:"
        )),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).is_empty(),
        "no progress when stderr is not a terminal: {}",
        stderr(&o)
    );

    // An independent client sees the CNCF Wasm artifact.
    let raw = remote_manifest(&reference);
    assert_eq!(raw["mediaType"], media::OCI_MANIFEST);
    assert_eq!(raw["config"]["mediaType"], media::WASM_CONFIG_V0);
    assert_eq!(raw["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(raw["layers"][0]["mediaType"], media::WASM_LAYER);
    let module = std::fs::read(guests::PROBE).expect("probe");
    assert_eq!(raw["layers"][0]["digest"], Digest::of(&module).to_string());
    let config = remote_config(&reference);
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["os"], "wasip1");
    assert_eq!(config["layerDigests"][0], Digest::of(&module).to_string());

    // `run REF` pulls (policy `missing`) and runs; the module compiled from
    // the file before is a cache hit because the key is the layer digest.
    let o = w.run(&["--verbose", guests::PROBE, "exit", "0"]);
    assert!(stderr(&o).contains("compile cache miss"), "{}", stderr(&o));
    let o = w.run(&["--verbose", &reference, "args", "x"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        format!("argv[0]={reference}\nargv[1]=args\nargv[2]=x\n")
    );
    assert!(stderr(&o).contains("compile cache hit"), "{}", stderr(&o));

    // A component is pushed as wasip2 with its imports and exports listed.
    let creference = format!("{}/tools/probe-component:v1", reg.addr());
    assert_code(
        &w.exec(&["push", "-q", guests::PROBE_COMPONENT, &creference]),
        0,
    );
    let config = remote_config(&creference);
    assert_eq!(config["os"], "wasip2");
    let exports: Vec<&str> = config["component"]["exports"]
        .as_array()
        .expect("exports")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2")),
        "{exports:?}"
    );
    let o = w.run(&[&creference, "exit", "0"]);
    assert_code(&o, 0);

    // A WASI 0.3 component (from the public conformance fixtures beside
    // the repository) is pushed as wasip3, and listed as 0.3.
    let p3 = p3_fixtures().join("cli-exit.wasm");
    let p3 = p3.to_str().expect("utf-8 path");
    let p3reference = format!("{}/tools/p3:v1", reg.addr());
    assert_code(&w.exec(&["push", "-q", p3, &p3reference]), 0);
    assert_eq!(remote_config(&p3reference)["os"], "wasip3");
    assert_code(&w.exec(&["pull", "-q", &p3reference]), 0);
    let o = w.exec(&["images"]);
    let row = stdout(&o)
        .lines()
        .find(|l| l.contains("/tools/p3 "))
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .unwrap_or_else(|| panic!("{}", stdout(&o)));
    assert_eq!(row[3], "0.3", "{row:?}");
    let o = w.exec(&["inspect", &creference]);
    assert_eq!(json(&stdout(&o))["wasi"], "0.2");
}

#[test]
fn pull_images_inspect_rmi() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/app:v1", reg.addr());
    assert_code(&w.exec(&["push", "-q", guests::HELLO, &reference]), 0);
    assert!(
        store_blobs(&w).is_empty(),
        "push does not fill the local store"
    );

    let o = w.exec(&["pull", &reference]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).starts_with(&format!("Pulled {reference} (artifact, digest sha256:")),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));

    let o = w.exec(&["images"]);
    assert_code(&o, 0);
    let out = stdout(&o);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "DIGEST", "WASI", "SIZE", "CREATED"]
    );
    let row: Vec<&str> = lines.next().expect("row").split_whitespace().collect();
    assert_eq!(row[0], format!("{}/app", reg.addr()));
    assert_eq!(row[1], "v1");
    assert!(
        row[2].starts_with("sha256:") && row[2].len() == 19,
        "{row:?}"
    );
    assert_eq!(row[3], "preview1", "{row:?}");
    assert!(row[4].parse::<f64>().is_ok() && row[5] == "KiB", "{row:?}");
    assert!(row[6].starts_with("20"), "created: {row:?}");
    assert_eq!(lines.next(), None);
    assert_eq!(stdout(&w.exec(&["images", "-q"])), format!("{reference}\n"));

    let o = w.exec(&["inspect", &reference]);
    assert_code(&o, 0);
    let info = json(&stdout(&o));
    assert_eq!(info["reference"], reference);
    assert_eq!(info["format"], "artifact");
    assert_eq!(info["config"]["os"], "wasip1");
    assert_eq!(info["wasi"], "preview1");
    assert_eq!(
        info["manifest"]["layers"][0]["mediaType"],
        "application/wasm"
    );
    let module = std::fs::read(guests::HELLO).expect("hello");
    assert_eq!(info["wasm"], Digest::of(&module).to_string());

    // Runs from the store with the registry gone.
    drop(reg);
    let o = w.run(&["--pull", "never", &reference]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Hello from WebAssembly, world!\n");

    let o = w.exec(&["rmi", &reference]);
    assert_code(&o, 0);
    // Manifest, config and layer go; nothing else refers to them.
    assert!(
        stdout(&o).starts_with(&format!("Untagged: {reference}\nDeleted 3 blobs (")),
        "{}",
        stdout(&o)
    );
    assert!(store_blobs(&w).is_empty(), "{:?}", store_blobs(&w));
    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
    assert_host_failure(
        &w.exec(&["rmi", &reference]),
        "no such image in the local store",
    );
    assert_host_failure(
        &w.exec(&["inspect", &reference]),
        "no such image in the local store",
    );
    assert_host_failure(&w.run(&["--pull", "never", &reference]), "--pull=never");
}

#[test]
fn pull_policy_always_sees_a_moved_tag() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/moving:latest", reg.addr());
    assert_code(&w.exec(&["push", "-q", guests::HELLO, &reference]), 0);
    let o = w.run(&[&reference]);
    assert_eq!(stdout(&o), "Hello from WebAssembly, world!\n");

    assert_code(&w.exec(&["push", "-q", guests::HELLO_WAT, &reference]), 0);
    // `missing` uses the local copy; `always` pulls the new one.
    assert_eq!(
        stdout(&w.run(&[&reference])),
        "Hello from WebAssembly, world!\n"
    );
    assert_eq!(
        stdout(&w.run(&["--pull", "always", &reference])),
        "hello from wat\n"
    );
    assert_eq!(stdout(&w.run(&[&reference])), "hello from wat\n");
    assert_host_failure(
        &w.run(&["--pull", "sometimes", &reference]),
        "invalid value 'sometimes'",
    );
}

/// `wasmpod push FORMAT_FLAG --path /bin/probe.wasm PROBE REF`, which must
/// say it pushed `kind`; checks the config every container image format
/// shares (wasi/wasm, the entrypoint) and returns the remote manifest and
/// config.
fn push_probe_image(
    w: &Wasmpod,
    format_flag: &str,
    reference: &str,
    kind: &str,
) -> (serde_json::Value, serde_json::Value) {
    let o = w.exec(&[
        "push",
        format_flag,
        "--path",
        "/bin/probe.wasm",
        guests::PROBE,
        reference,
    ]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains(&format!("({kind}, digest")),
        "{}",
        stdout(&o)
    );
    let config = remote_config(reference);
    assert_eq!(config["os"], "wasi");
    assert_eq!(config["architecture"], "wasm");
    assert_eq!(config["config"]["Entrypoint"][0], "/bin/probe.wasm");
    (remote_manifest(reference), config)
}

/// `wasmpod run REF args z` of a probe image whose entrypoint is
/// `/bin/probe.wasm`.
fn assert_runs_probe(w: &Wasmpod, reference: &str) {
    let o = w.run(&[reference, "args", "z"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "argv[0]=/bin/probe.wasm\nargv[1]=args\nargv[2]=z\n"
    );
}

#[test]
fn compat_image_pushed_by_wasmpod_has_an_entrypoint_and_runs() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/compat/probe:v1", reg.addr());
    let (raw, _) = push_probe_image(&w, "--compat", &reference, "container image");
    assert_eq!(raw["config"]["mediaType"], media::OCI_CONFIG);
    assert_eq!(raw["layers"][0]["mediaType"], media::OCI_LAYER_TAR_GZIP);

    // skopeo copies it into an OCI layout, and umoci unpacks the module.
    let layout = tempfile::tempdir().expect("tmp");
    let dest = format!("oci:{}:v1", layout.path().join("img").display());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &dest,
    ]);
    let bundle = layout.path().join("bundle");
    // `raw unpack`: umoci cannot write a runtime config for os "wasi".
    let out = Command::new("umoci")
        .args(["raw", "unpack", "--rootless", "--image"])
        .arg(format!("{}:v1", layout.path().join("img").display()))
        .arg(&bundle)
        .output()
        .expect("umoci is not installed: run `make setup`");
    assert!(
        out.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(bundle.join("bin/probe.wasm")).expect("unpacked module"),
        std::fs::read(guests::PROBE).expect("probe")
    );
    assert_runs_probe(&w, &reference);
}

/// `--wasm-layer`: an image config that says how to run the module, and
/// the module as a layer of its own (what containerd 1.7.7+ hands to the
/// shim); skopeo reads it back byte for byte, and wasmpod runs it.
#[test]
fn wasm_layer_image_has_an_entrypoint_and_a_titled_wasm_layer() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/layer/probe:v1", reg.addr());
    let (raw, config) = push_probe_image(
        &w,
        "--wasm-layer",
        &reference,
        "container image with a Wasm layer",
    );
    assert_eq!(raw["config"]["mediaType"], media::OCI_CONFIG);
    assert_eq!(raw["layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(raw["layers"][0]["mediaType"], media::WASM_LAYER);
    assert_eq!(
        raw["layers"][0]["annotations"]["org.opencontainers.image.title"],
        "probe.wasm"
    );
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::json!([]));

    let layout = tempfile::tempdir().expect("tmp");
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{reference}"),
        &format!("dir:{}", layout.path().display()),
    ]);
    let layer_hex = raw["layers"][0]["digest"]
        .as_str()
        .and_then(|d| d.strip_prefix("sha256:"))
        .expect("layer digest");
    assert_eq!(
        std::fs::read(layout.path().join(layer_hex)).expect("layer copied by skopeo"),
        std::fs::read(guests::PROBE).expect("probe")
    );

    // The entrypoint comes from the image config.
    assert_runs_probe(&w, &reference);

    // Several Wasm layers: the one titled with the entrypoint's file name
    // runs; without such a title, the pull says why it cannot choose.
    let probe = std::fs::read(guests::PROBE).expect("probe");
    let hello = std::fs::read(guests::HELLO).expect("hello");
    let two = format!("{}/layer/two:v1", reg.addr());
    wasmpod_testkit::image::push_image(
        &two,
        &wasmpod_testkit::image::wasm_layer_image(
            &[("probe.wasm", &probe), ("hello.wasm", &hello)],
            "/hello.wasm",
        ),
    );
    let o = w.run(&[&two, "x"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Hello from WebAssembly, world!\n  arg 1: x\n");
    let untitled = format!("{}/layer/untitled:v1", reg.addr());
    wasmpod_testkit::image::push_image(
        &untitled,
        &wasmpod_testkit::image::wasm_layer_image(
            &[("probe.wasm", &probe), ("hello.wasm", &hello)],
            "/other.wasm",
        ),
    );
    assert_host_failure(
        &w.exec(&["pull", &untitled]),
        "2 Wasm layers, and none is titled (org.opencontainers.image.title) with the entrypoint's file name",
    );

    // One format at a time, and --path only with one that uses it.
    assert_host_failure(
        &w.exec(&[
            "push",
            "--compat",
            "--wasm-layer",
            guests::PROBE,
            &reference,
        ]),
        "cannot be used with",
    );
    assert_host_failure(
        &w.exec(&["push", "--path", "/x.wasm", guests::PROBE, &reference]),
        "required arguments were not provided: <--compat|--wasm-layer>",
    );
    assert_host_failure(
        &w.exec(&[
            "push",
            "--wasm-layer",
            "--path",
            "/",
            guests::PROBE,
            &reference,
        ]),
        "is not a plain file path",
    );
}

/// A compat image made without wasmpod: umoci builds it, skopeo pushes it.
#[test]
fn compat_image_built_by_umoci_runs() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let dir = tempfile::tempdir().expect("tmp");
    let layout = dir.path().join("layout");
    let image = format!("{}:v1", layout.display());
    let umoci = |args: &[&str]| {
        let out = Command::new("umoci")
            .args(args)
            .output()
            .expect("umoci is not installed: run `make setup`");
        assert!(
            out.status.success(),
            "umoci {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    umoci(&["init", "--layout", layout.to_str().expect("utf-8")]);
    umoci(&["new", "--image", &image]);
    let bundle = dir.path().join("bundle");
    let bundle_s = bundle.to_str().expect("utf-8");
    umoci(&["unpack", "--rootless", "--image", &image, bundle_s]);
    std::fs::create_dir_all(bundle.join("rootfs/app")).expect("mkdir");
    std::fs::copy(guests::PROBE, bundle.join("rootfs/app/probe.wasm")).expect("copy");
    std::fs::write(bundle.join("rootfs/app/stale.wasm"), b"old").expect("write");
    umoci(&["repack", "--image", &image, bundle_s]);
    // A second layer deletes a file (a whiteout) and adds a symlink.
    let bundle2 = dir.path().join("bundle2");
    let bundle2_s = bundle2.to_str().expect("utf-8");
    umoci(&["unpack", "--rootless", "--image", &image, bundle2_s]);
    std::fs::remove_file(bundle2.join("rootfs/app/stale.wasm")).expect("rm");
    std::os::unix::fs::symlink("probe.wasm", bundle2.join("rootfs/app/entry.wasm"))
        .expect("symlink");
    umoci(&["repack", "--image", &image, bundle2_s]);
    umoci(&[
        "config",
        "--image",
        &image,
        "--os",
        "wasi",
        "--architecture",
        "wasm",
        "--config.entrypoint",
        "/app/entry.wasm",
        "--config.cmd",
        "args",
        "--config.env",
        "FROM_IMAGE=yes",
        "--config.workingdir",
        "/",
    ]);
    let reference = format!("{}/umoci/probe:v1", reg.addr());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{image}"),
        &format!("docker://{reference}"),
    ]);

    let o = w.run(&[&reference]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "argv[0]=/app/entry.wasm\nargv[1]=args\n");

    // The same image in Docker's media types (schema 2, as docker pushes).
    let docker = format!("{}/umoci/probe-docker:v1", reg.addr());
    skopeo(&[
        "copy",
        "--format",
        "v2s2",
        "--dest-tls-verify=false",
        &format!("oci:{image}"),
        &format!("docker://{docker}"),
    ]);
    let raw = remote_manifest(&docker);
    assert_eq!(raw["mediaType"], media::DOCKER_MANIFEST);
    let o = w.run(&[&docker, "args", "docker"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "argv[0]=/app/entry.wasm\nargv[1]=args\nargv[2]=docker\n"
    );
    let o = w.run(&["-e", "EXTRA=1", &reference, "env"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "FROM_IMAGE=yes\nEXTRA=1\nenv-end\n");

    // The whiteout is honoured: an image whose entrypoint was deleted does
    // not run.
    umoci(&[
        "config",
        "--image",
        &image,
        "--config.entrypoint",
        "/app/stale.wasm",
    ]);
    let gone = format!("{}/umoci/stale:v1", reg.addr());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{image}"),
        &format!("docker://{gone}"),
    ]);
    assert_host_failure(
        &w.run(&[&gone]),
        "/app/stale.wasm was deleted by a later layer",
    );
}

#[test]
fn image_index_selects_the_wasm_platform_and_older_media_types_run() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let module = std::fs::read(guests::PROBE).expect("probe");
    let base = format!("{}/multi", reg.addr());
    let client = lib_client();
    let r = ImageRef::parse(&format!("{base}:plain")).expect("ref");

    // Manifests with each accepted layer media type, and a linux one.
    let mut descriptors = Vec::new();
    for (tag, config_type, layer_type) in [
        (
            "v1-format",
            media::WASM_CONFIG_V1,
            media::WASM_CONTENT_LAYER_V1,
        ),
        (
            "ba-layer",
            media::OCI_CONFIG,
            media::BYTECODEALLIANCE_COMPONENT_LAYER,
        ),
        (
            "linux",
            media::OCI_CONFIG,
            "application/vnd.example.native-binary",
        ),
    ] {
        let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
        let layer_bytes = if tag == "linux" {
            b"\x7fELF not wasm".to_vec()
        } else {
            module.clone()
        };
        let built = BuiltImage::new(
            (Descriptor::new(config_type, &config), config),
            vec![(Descriptor::new(layer_type, &layer_bytes), layer_bytes)],
        )
        .expect("image");
        let tagged = ImageRef::parse(&format!("{base}:{tag}")).expect("ref");
        block_on(wasmpod_oci::image::push(
            &client,
            &tagged,
            &built,
            &NoProgress,
        ))
        .expect("push");
        let bytes = built.manifest;
        descriptors.push((tag, Descriptor::new(media::OCI_MANIFEST, &bytes)));
    }
    for tag in ["v1-format", "ba-layer"] {
        let o = w.run(&[&format!("{base}:{tag}"), "exit", "3"]);
        assert_code(&o, 3);
    }
    let o = w.run(&[&format!("{base}:linux")]);
    assert_host_failure(
        &o,
        "unsupported media type application/vnd.example.native-binary",
    );

    // An index offering linux/amd64 first and wasip1/wasm second.
    let platform = |os: &str, arch: &str| {
        Some(Platform {
            architecture: arch.into(),
            os: os.into(),
            variant: None,
        })
    };
    let mut linux = descriptors[2].1.clone();
    linux.platform = platform("linux", "amd64");
    let mut wasm = descriptors[0].1.clone();
    wasm.platform = platform("wasip1", "wasm");
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests: vec![linux.clone(), wasm],
    };
    let bytes = serde_json::to_vec(&index).expect("json");
    block_on(client.put_manifest(&r, "multi", media::OCI_INDEX, &bytes)).expect("index");
    let o = w.run(&[&format!("{base}:multi"), "exit", "4"]);
    assert_code(&o, 4);

    let only_linux = ImageIndex {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests: vec![linux],
    };
    let bytes = serde_json::to_vec(&only_linux).expect("json");
    block_on(client.put_manifest(&r, "linux-only", media::OCI_INDEX, &bytes)).expect("index");
    assert_host_failure(
        &w.run(&[&format!("{base}:linux-only")]),
        "no wasi/wasm, wasip1/wasm, wasip2/wasm or wasip3/wasm manifest (it offers linux/amd64)",
    );
}

#[test]
fn chunked_uploads_and_skipped_blobs() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let first = format!("{}/chunked:v1", reg.addr());
    let o = w
        .cmd()
        .env("WASMPOD_UPLOAD_CHUNK_SIZE", "4096")
        .args(["push", "-q", guests::PROBE, &first])
        .output()
        .expect("spawn");
    assert_code(&o, 0);
    let o = w.run(&[&first, "exit", "6"]);
    assert_code(&o, 6);

    // The same module under another tag: the registry already has the
    // layer, so only the manifest and config cross; the result still runs.
    let second = format!("{}/chunked:v2", reg.addr());
    let o = w
        .cmd()
        .env("RUST_LOG", "wasmpod_oci=debug")
        .args(["push", guests::PROBE, &second])
        .output()
        .expect("spawn");
    assert_code(&o, 0);
    let log = stderr(&o);
    let layer = Digest::of(&std::fs::read(guests::PROBE).expect("probe"));
    assert!(
        log.contains(&format!(
            "HEAD url=\"http://{}/v2/chunked/blobs/{layer}",
            reg.addr()
        )),
        "{log}"
    );
    assert!(
        !log.contains(&format!("digest={layer}")),
        "the layer must not be uploaded again:\n{log}"
    );
    assert_code(&w.run(&[&second, "exit", "0"]), 0);
}

#[test]
fn basic_auth_login_logout_and_credential_files() {
    let reg = Registry::start_with(Auth::Htpasswd {
        user: "alice",
        password: "wonderland",
    });
    let w = Wasmpod::new();
    let reference = format!("{}/private:v1", reg.addr());

    let o = w.exec(&["push", guests::HELLO, &reference]);
    assert_host_failure(&o, &format!("run `wasmpod login {}`", reg.addr()));

    let login = |password: &str| {
        let mut child = w
            .cmd()
            .args([
                "login",
                "--username",
                "alice",
                "--password-stdin",
                reg.addr(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        std::io::Write::write_all(
            &mut child.stdin.take().expect("stdin"),
            format!("{password}\n").as_bytes(),
        )
        .expect("write");
        child.wait_with_output().expect("wait")
    };
    assert_host_failure(&login("wrong"), "rejected the user name or password");
    assert!(!w.home.path().join("auth.json").exists());
    let o = login("wonderland");
    assert_code(&o, 0);
    assert!(stdout(&o).starts_with("Login Succeeded"), "{}", stdout(&o));
    assert_host_failure(
        &w.exec(&["login", "--username", "alice", reg.addr()]),
        "--password-stdin",
    );

    assert_code(&w.exec(&["push", "-q", guests::HELLO, &reference]), 0);
    assert_eq!(
        stdout(&w.run(&[&reference])),
        "Hello from WebAssembly, world!\n"
    );

    let o = w.exec(&["logout", reg.addr()]);
    assert_eq!(
        stdout(&o),
        format!("Removed login credentials for {}\n", reg.addr())
    );
    assert_eq!(
        stdout(&w.exec(&["logout", reg.addr()])),
        format!("Not logged in to {}\n", reg.addr())
    );
    assert_host_failure(
        &w.run(&["--pull", "always", &reference]),
        "authentication required",
    );

    // Docker's and podman's files are read too.
    let other = tempfile::tempdir().expect("tmp");
    let config = format!(
        r#"{{"auths":{{"{}":{{"auth":"YWxpY2U6d29uZGVybGFuZA=="}}}}}}"#,
        reg.addr()
    );
    std::fs::write(other.path().join("config.json"), &config).expect("write");
    let o = w
        .cmd()
        .env("DOCKER_CONFIG", other.path())
        .args(["run", "--pull", "always", &reference])
        .output()
        .expect("spawn");
    assert_code(&o, 0);
    // ~/.docker/config.json itself.
    let user_docker = w.home.path().join("user-home/.docker");
    std::fs::create_dir_all(&user_docker).expect("mkdir");
    std::fs::write(user_docker.join("config.json"), &config).expect("write");
    let o = w.run(&["--pull", "always", &reference]);
    assert_code(&o, 0);
    std::fs::remove_file(user_docker.join("config.json")).expect("rm");
    let auth_file = other.path().join("auth.json");
    std::fs::write(&auth_file, &config).expect("write");
    let o = w
        .cmd()
        .env("REGISTRY_AUTH_FILE", &auth_file)
        .args(["pull", "-q", &reference])
        .output()
        .expect("spawn");
    assert_code(&o, 0);
}

#[test]
fn token_auth_through_the_www_authenticate_challenge() {
    let issuer = TokenIssuer::start("bob", "builder");
    let reg = Registry::start_with(Auth::Token(&issuer));
    let w = Wasmpod::new();
    let reference = format!("{}/team/app:v1", reg.addr());

    assert_host_failure(
        &w.exec(&["push", guests::HELLO, &reference]),
        "run `wasmpod login",
    );
    let mut child = w
        .cmd()
        .args(["login", "-u", "bob", "--password-stdin", reg.addr()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"builder").expect("write");
    assert_code(&child.wait_with_output().expect("wait"), 0);

    assert_code(&w.exec(&["push", "-q", guests::HELLO, &reference]), 0);
    let o = w.run(&["--pull", "always", &reference]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Hello from WebAssembly, world!\n");
    assert!(issuer.issued() >= 2, "tokens issued: {}", issuer.issued());
}

#[test]
fn served_bytes_that_do_not_match_their_digest_are_refused() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/tampered:v1", reg.addr());
    assert_code(&w.exec(&["push", "-q", guests::HELLO, &reference]), 0);
    let module = std::fs::read(guests::HELLO).expect("hello");
    let digest = Digest::of(&module);
    let data = reg.blob_data(&digest.hex());
    let mut bytes = std::fs::read(&data).expect("registry blob");
    bytes[100] ^= 0xff;
    std::fs::write(&data, &bytes).expect("tamper");

    let o = w.exec(&["pull", &reference]);
    assert_host_failure(
        &o,
        &format!("digest mismatch: expected {digest}, got sha256:"),
    );
    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
    assert!(!store_blobs(&w).contains(&digest.hex()));
    assert_host_failure(&w.run(&[&reference]), "digest mismatch");
}

#[test]
fn registry_errors_are_clear() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    assert_host_failure(
        &w.exec(&["pull", &format!("{}/nothing:here", reg.addr())]),
        "not found in the registry",
    );
    assert_host_failure(
        &w.run(&[&format!("{}/nothing:here", reg.addr())]),
        "not found in the registry",
    );
    for bad in ["Upper/Case", "app:", "app@sha256:short", "https://x.io/app"] {
        assert_host_failure(&w.exec(&["pull", bad]), "invalid image reference");
        assert_host_failure(&w.run(&[bad]), "invalid image reference");
    }
    assert_host_failure(
        &w.exec(&["push", guests::HELLO, "Bad:Ref"]),
        "invalid image reference",
    );
    assert_host_failure(
        &w.exec(&[
            "push",
            "/no/such/file.wasm",
            &format!("{}/x:v1", reg.addr()),
        ]),
        "cannot read /no/such/file.wasm",
    );

    // A registry that keeps failing with 503: retried with backoff
    // (250 + 500 + 1000 ms), then one line naming the status.
    let failing = FaultServer::start(vec![(
        "/v2/flaky/manifests/v1".into(),
        Canned {
            status: 503,
            content_type: "text/plain".into(),
            body: b"try later".to_vec(),
            content_length: None,
        },
    )]);
    let started = std::time::Instant::now();
    let o = w.exec(&["pull", &format!("{}/flaky:v1", failing.addr())]);
    assert_host_failure(&o, "answered 503");
    assert!(stderr(&o).contains("try later"), "{}", stderr(&o));
    assert!(
        started.elapsed() >= Duration::from_millis(1700),
        "no backoff: {:?}",
        started.elapsed()
    );

    // Nothing listens here: bounded retries, then one line.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let started = std::time::Instant::now();
    let o = w.exec(&["pull", &format!("127.0.0.1:{port}/app:v1")]);
    assert_host_failure(&o, "cannot reach the registry after 4 attempts");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn concurrent_pulls_of_one_reference_both_succeed() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/shared:v1", reg.addr());
    assert_code(
        &w.exec(&["push", "-q", guests::PROBE_COMPONENT, &reference]),
        0,
    );
    let children: Vec<_> = (0..3)
        .map(|_| {
            w.cmd()
                .args(["pull", "-q", &reference])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        assert_code(&c.wait_with_output().expect("wait"), 0);
    }
    assert_eq!(stdout(&w.exec(&["images", "-q"])), format!("{reference}\n"));
    assert_code(&w.run(&["--pull", "never", &reference, "exit", "0"]), 0);
}

/// A pull killed midway leaves nothing corrupt; the next pull succeeds.
#[test]
fn killed_pull_leaves_nothing_listed_and_the_next_pull_works() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    // About 2 MiB of module: a data segment of non-repeating bytes.
    let mut data = String::new();
    let mut x: u32 = 1;
    for _ in 0..(2 << 20) {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        data.push_str(&format!("\\{:02x}", (x >> 16) as u8));
    }
    let wat =
        format!("(module (memory 64) (data (i32.const 0) \"{data}\") (func (export \"_start\")))");
    let dir = tempfile::tempdir().expect("tmp");
    let big = dir.path().join("big.wat");
    std::fs::write(&big, wat).expect("write");
    let direct = format!("{}/big:v1", reg.addr());
    assert_code(
        &w.exec(&["push", "-q", big.to_str().expect("utf-8"), &direct]),
        0,
    );

    let proxy = Proxy::start(reg.addr(), 8 * 1024);
    let slow = format!("{}/big:v1", proxy.addr());
    let mut child = w
        .cmd()
        .args(["pull", &slow])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let tmp = w.home.path().join("store/tmp");
    wasmpod_testkit::wait_until(Duration::from_secs(20), "a partial download", || {
        std::fs::read_dir(&tmp)
            .map(|d| {
                d.flatten()
                    .any(|e| e.metadata().is_ok_and(|m| m.len() > 64 * 1024))
            })
            .unwrap_or(false)
    });
    child.kill().expect("kill");
    child.wait().expect("wait");

    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
    let layer_hex = {
        let raw = remote_manifest(&direct);
        raw["layers"][0]["digest"]
            .as_str()
            .expect("digest")
            .trim_start_matches("sha256:")
            .to_string()
    };
    assert!(
        !store_blobs(&w).contains(&layer_hex),
        "a partial blob must never be committed"
    );

    proxy.set_throttled(false);
    let o = w.exec(&["pull", &slow]);
    assert_code(&o, 0);
    assert!(store_blobs(&w).contains(&layer_hex));
    assert_code(&w.run(&["--pull", "never", &slow]), 0);
    // Removing an image also sweeps the abandoned temp file.
    assert_code(&w.exec(&["rmi", &slow]), 0);
    assert_eq!(std::fs::read_dir(&tmp).expect("tmp").count(), 0);
}

#[test]
fn progress_is_drawn_on_a_terminal_only() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let reference = format!("{}/progress:v1", reg.addr());
    assert_code(&w.exec(&["push", "-q", guests::PROBE, &reference]), 0);
    // `script` gives the command a pseudo-terminal.
    let cmd = format!("{} pull {reference}", env!("CARGO_BIN_EXE_wasmpod"));
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("WASMPOD_HOME", w.home.path())
        .env("HOME", w.home.path().join("user-home"))
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(": done ("), "no progress lines in:\n{text}");
    assert!(text.contains("KiB"), "{text}");
    let o = w.exec(&["rmi", &reference]);
    assert_code(&o, 0);
    let quiet = Command::new("script")
        .args(["-qec", &format!("{cmd} -q"), "/dev/null"])
        .env("WASMPOD_HOME", w.home.path())
        .env("HOME", w.home.path().join("user-home"))
        .output()
        .expect("script");
    let text = String::from_utf8_lossy(&quiet.stdout);
    assert_eq!(text.trim_end(), reference, "{text}");
}

fn compat_config(entrypoint: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm", "os": "wasi",
        "config": {"Entrypoint": [entrypoint]},
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .expect("config")
}

#[test]
fn gzip_bomb_layers_are_refused_and_leave_nothing_in_the_store() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let client = lib_client();

    // A 300 MiB "module" (Wasm magic, then zeros) in a 2 MiB gzip layer.
    let module_bomb = wasmpod_testkit::image::gzip_bomb("/app.wasm", 300 << 20);
    assert!(module_bomb.len() < 3 << 20, "{}", module_bomb.len());
    let layer = Descriptor::new(media::OCI_LAYER_TAR_GZIP, &module_bomb);
    let config = compat_config("/app.wasm");
    let built = BuiltImage::new(
        (Descriptor::new(media::OCI_CONFIG, &config), config.clone()),
        vec![(layer.clone(), module_bomb)],
    )
    .expect("image");
    let reference = format!("{}/bomb:module", reg.addr());
    let r = ImageRef::parse(&reference).expect("ref");
    block_on(wasmpod_oci::image::push(&client, &r, &built, &NoProgress)).expect("push");

    let o = w.exec(&["pull", &reference]);
    assert_host_failure(
        &o,
        &format!(
            "{reference}: layer {}: app.wasm (314572800 bytes) exceeds the limit for a module (268435456 bytes); refusing it",
            layer.digest
        ),
    );
    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
    assert_eq!(
        store_blobs(&w),
        Vec::<String>::new(),
        "the failed pull swept its blobs"
    );
    assert_host_failure(&w.run(&[&reference]), "exceeds the limit for a module");
    assert_eq!(store_blobs(&w), Vec::<String>::new());

    // A real module under a layer that expands past 1 GiB (a 1.1 GiB
    // file, 7 MiB of gzip): the bomb layer is on top, so it is scanned
    // first, and refused from its header without being expanded.
    let module = std::fs::read(guests::HELLO).expect("hello");
    let good = wasmpod_testkit::image::compat_image(&[("/app.wasm", &module)], "/app.wasm");
    let filler = wasmpod_testkit::image::gzip_bomb("/filler", 1100 << 20);
    let filler_layer = Descriptor::new(media::OCI_LAYER_TAR_GZIP, &filler);
    let mut layers = good.layers.clone();
    layers.push((filler_layer.clone(), filler));
    let built = BuiltImage::new(
        (Descriptor::new(media::OCI_CONFIG, &config), config),
        layers,
    )
    .expect("image");
    let reference = format!("{}/bomb:layer", reg.addr());
    let r = ImageRef::parse(&reference).expect("ref");
    block_on(wasmpod_oci::image::push(&client, &r, &built, &NoProgress)).expect("push");
    let started = std::time::Instant::now();
    let o = w.exec(&["pull", &reference]);
    assert_host_failure(
        &o,
        &format!(
            "{reference}: layer {} (expanded) exceeds the limit for one layer (1073741824 bytes); refusing it",
            filler_layer.digest
        ),
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
    assert_eq!(store_blobs(&w), Vec::<String>::new());

    // The same module without the bomb pulls and runs.
    let reference = format!("{}/bomb:fine", reg.addr());
    let r = ImageRef::parse(&reference).expect("ref");
    block_on(wasmpod_oci::image::push(&client, &r, &good, &NoProgress)).expect("push");
    let o = w.run(&[&reference]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Hello from WebAssembly, world!\n");
}

#[test]
fn oversized_configs_and_deep_index_chains_are_refused() {
    let reg = Registry::start();
    let w = Wasmpod::new();
    let client = lib_client();
    let module = std::fs::read(guests::HELLO).expect("hello");

    // A Wasm artifact whose config is 5 MiB of JSON.
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm", "os": "wasip1", "layerDigests": [],
        "author": "a".repeat(5 << 20),
    }))
    .expect("config");
    let config_desc = Descriptor::new(media::WASM_CONFIG_V0, &config);
    let built = BuiltImage::new(
        (config_desc.clone(), config),
        vec![(Descriptor::new(media::WASM_LAYER, &module), module.clone())],
    )
    .expect("image");
    let reference = format!("{}/big-config:v1", reg.addr());
    let r = ImageRef::parse(&reference).expect("ref");
    block_on(wasmpod_oci::image::push(&client, &r, &built, &NoProgress)).expect("push");
    assert_host_failure(
        &w.exec(&["pull", &reference]),
        &format!(
            "{reference}: config {} ({} bytes) exceeds the limit for an image config (4194304 bytes); refusing it",
            config_desc.digest, config_desc.size
        ),
    );
    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
    assert!(!store_blobs(&w).contains(&config_desc.digest.hex()));

    // An image behind a chain of six indexes, each pointing at the next.
    let config = br#"{"architecture":"wasm","os":"wasip1","layerDigests":[]}"#.to_vec();
    let built = BuiltImage::new(
        (Descriptor::new(media::WASM_CONFIG_V0, &config), config),
        vec![(Descriptor::new(media::WASM_LAYER, &module), module)],
    )
    .expect("image");
    let base = format!("{}/deep", reg.addr());
    let r = ImageRef::parse(&format!("{base}:image")).expect("ref");
    block_on(wasmpod_oci::image::push(&client, &r, &built, &NoProgress)).expect("push");
    let wasm_platform = Some(Platform {
        architecture: "wasm".into(),
        os: "wasip1".into(),
        variant: None,
    });
    let mut next = Descriptor::new(media::OCI_MANIFEST, &built.manifest);
    next.platform = wasm_platform.clone();
    let mut tops = Vec::new();
    for depth in 1..=6 {
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(media::OCI_INDEX.into()),
            manifests: vec![next.clone()],
        };
        let bytes = serde_json::to_vec(&index).expect("json");
        let tag = format!("depth{depth}");
        block_on(client.put_manifest(&r, &tag, media::OCI_INDEX, &bytes)).expect("index");
        next = Descriptor::new(media::OCI_INDEX, &bytes);
        next.platform = wasm_platform.clone();
        tops.push(next.digest);
    }
    // Four indexes deep is allowed...
    let o = w.run(&[&format!("{base}:depth4")]);
    assert_code(&o, 0);
    // ...five is not, and the error names the fifth.
    assert_host_failure(
        &w.exec(&["pull", &format!("{base}:depth6")]),
        &format!(
            "{base}:depth6: image index {} exceeds the limit of 4 image indexes from a reference to its manifest; refusing it",
            tops[1]
        ),
    );
}

#[test]
fn oras_pulls_what_wasmpod_pushes_and_wasmpod_runs_what_oras_pushes() {
    use wasmpod_testkit::oras::oras;
    let reg = Registry::start();
    let w = Wasmpod::new();
    let dir = tempfile::tempdir().expect("tmp");

    // wasmpod push → oras pull saves the module under its file name.
    let pushed = format!("{}/interop/probe:v1", reg.addr());
    assert_code(&w.exec(&["push", "-q", guests::PROBE, &pushed]), 0);
    let pulled = dir.path().join("pulled");
    std::fs::create_dir(&pulled).expect("mkdir");
    oras(&pulled, &["pull", "--plain-http", &pushed]);
    let module = std::fs::read(guests::PROBE).expect("probe");
    assert_eq!(
        std::fs::read(pulled.join("probe.wasm")).expect("oras saved probe.wasm"),
        module
    );
    // A .wat file is pushed as its binary, titled .wasm.
    let wat = format!("{}/interop/hello-wat:v1", reg.addr());
    assert_code(&w.exec(&["push", "-q", guests::HELLO_WAT, &wat]), 0);
    oras(&pulled, &["pull", "--plain-http", &wat]);
    let binary = std::fs::read(pulled.join("hello.wasm")).expect("oras saved hello.wasm");
    assert!(binary.starts_with(b"\0asm"));

    // oras push of a CNCF Wasm artifact → wasmpod pulls, shows and runs it.
    let push_dir = dir.path().join("push");
    std::fs::create_dir(&push_dir).expect("mkdir");
    std::fs::copy(guests::PROBE, push_dir.join("module.wasm")).expect("copy");
    std::fs::write(
        push_dir.join("config.json"),
        r#"{"architecture":"wasm","os":"wasip1","layerDigests":[]}"#,
    )
    .expect("config");
    let by_oras = format!("{}/interop/by-oras:v1", reg.addr());
    oras(
        &push_dir,
        &[
            "push",
            "--plain-http",
            &by_oras,
            "--config",
            "config.json:application/vnd.wasm.config.v0+json",
            "module.wasm:application/wasm",
        ],
    );
    let o = w.run(&[&by_oras, "args", "from-oras"]);
    assert_code(&o, 0);
    assert_eq!(
        stdout(&o),
        format!("argv[0]={by_oras}\nargv[1]=args\nargv[2]=from-oras\n")
    );
    let o = w.exec(&["images"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("interop/by-oras"), "{}", stdout(&o));
    let o = w.exec(&["inspect", &by_oras]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains(&Digest::of(&module).to_string()),
        "{}",
        stdout(&o)
    );
}
