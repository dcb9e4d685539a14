//! Pulls from servers that misbehave as no real registry does: canned
//! answers (oversized manifests, blobs longer than declared) and an HTTPS
//! registry whose token realm is plain HTTP. No registry daemon is needed,
//! so these run in the default test tier; `images.rs` has the rest.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use wasmpod_oci::manifest::{Descriptor, ImageManifest};
use wasmpod_oci::media;
use wasmpod_test_guests as guests;
use wasmpod_testkit::{Canned, Deadline, FaultServer, KillOnDrop, SelfSigned};

#[test]
fn oversized_manifests_and_overlong_blobs_are_refused() {
    let module = std::fs::read(guests::HELLO).expect("hello");
    let layer = Descriptor::new(media::WASM_LAYER, &module);
    let config = br#"{"architecture":"wasm","os":"wasip1","layerDigests":[]}"#.to_vec();
    let config_desc = Descriptor::new(media::WASM_CONFIG_V0, &config);
    let manifest = serde_json::to_vec(&ImageManifest::oci(
        config_desc.clone(),
        vec![layer.clone()],
    ))
    .expect("json");
    let canned = |body: Vec<u8>, ct: &str, len: Option<Option<u64>>| Canned {
        status: 200,
        content_type: ct.into(),
        body,
        content_length: len,
    };
    let mut longer = module.clone();
    longer.extend_from_slice(b"extra bytes past the declared size");
    let server = FaultServer::start(vec![
        (
            "/v2/big/manifests/v1".into(),
            canned(vec![b' '; 5 << 20], media::OCI_MANIFEST, None),
        ),
        (
            "/v2/big-chunked/manifests/v1".into(),
            canned(vec![b' '; 5 << 20], media::OCI_MANIFEST, Some(None)),
        ),
        (
            "/v2/long/manifests/v1".into(),
            canned(manifest.clone(), media::OCI_MANIFEST, None),
        ),
        (
            format!("/v2/long/blobs/{}", config_desc.digest),
            canned(config.clone(), "application/octet-stream", None),
        ),
        (
            format!("/v2/long/blobs/{}", layer.digest),
            canned(longer.clone(), "application/octet-stream", None),
        ),
        (
            "/v2/long-nolen/manifests/v1".into(),
            canned(manifest, media::OCI_MANIFEST, None),
        ),
        (
            format!("/v2/long-nolen/blobs/{}", config_desc.digest),
            canned(config, "application/octet-stream", None),
        ),
        (
            format!("/v2/long-nolen/blobs/{}", layer.digest),
            canned(longer, "application/octet-stream", Some(None)),
        ),
    ]);
    let w = Wasmpod::new();
    for repo in ["big", "big-chunked"] {
        assert_host_failure(
            &w.exec(&["pull", &format!("{}/{repo}:v1", server.addr())]),
            "is larger than 4194304 bytes; refusing it",
        );
    }
    for repo in ["long", "long-nolen"] {
        let o = w.exec(&["pull", &format!("{}/{repo}:v1", server.addr())]);
        assert_host_failure(&o, &format!("blob {} has the wrong size", layer.digest));
        assert!(stderr(&o).contains("refusing it"), "{}", stderr(&o));
    }
    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
    assert!(!store_blobs(&w).contains(&layer.digest.hex()));
}

#[test]
fn credentials_never_go_to_a_plain_http_token_realm_of_an_https_registry() {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    // The token service: plain HTTP on loopback. It notes every request's
    // Authorization header and refuses them all.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let token_addr = listener.local_addr().expect("addr").to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let deadline = Deadline::after(Duration::from_secs(60));
            while !deadline.passed() {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut auth = String::from("(none)");
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        auth = v.trim().to_string();
                    }
                    line.clear();
                }
                seen.lock().expect("lock").push(auth);
                let _ = (&stream).write_all(
                    b"HTTP/1.0 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
    }

    // The registry: HTTPS (openssl s_server, serving canned answers) at
    // [::ffff:127.0.0.1], which is this machine but not a name wasmpod
    // treats as loopback, so wasmpod speaks HTTPS to it, trusting our
    // certificate through SSL_CERT_FILE.
    let dir = tempfile::tempdir().expect("tmp");
    let SelfSigned { key, cert } = SelfSigned::create(
        dir.path(),
        "/CN=wasmpod-test-registry",
        &[
            "subjectAltName=IP:::ffff:127.0.0.1",
            "basicConstraints=critical,CA:FALSE",
            "extendedKeyUsage=serverAuth",
        ],
    );
    let www = dir.path().join("www");
    let manifests = www.join("v2/app/manifests");
    std::fs::create_dir_all(&manifests).expect("mkdir");
    let realm = format!("http://{token_addr}/token");
    std::fs::write(
        manifests.join("v1"),
        format!(
            "HTTP/1.0 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"test\"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        ),
    )
    .expect("canned answer");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let _server = KillOnDrop::spawn(
        Command::new("openssl")
            .args(["s_server", "-quiet", "-HTTP", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .current_dir(&www)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wasmpod_testkit::wait_until(Duration::from_secs(10), "s_server listens", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });

    // Credentials stored for that registry.
    let w = Wasmpod::new();
    let registry = format!("[::ffff:127.0.0.1]:{port}");
    std::fs::write(
        w.home.path().join("auth.json"),
        serde_json::to_vec(&serde_json::json!({
            "auths": {registry.clone(): {"username": "alice", "password": "s3cret"}}
        }))
        .expect("json"),
    )
    .expect("auth.json");

    let o = w
        .cmd()
        .env("SSL_CERT_FILE", &cert)
        .args(["pull", &format!("{registry}/app:v1")])
        .stdin(Stdio::null())
        .output()
        .expect("spawn wasmpod");
    assert_host_failure(
        &o,
        &format!(
            "{registry}: the registry's token realm {realm} is plain HTTP; refusing to send the stored credentials there"
        ),
    );
    assert_eq!(
        *seen.lock().expect("lock"),
        Vec::<String>::new(),
        "the token service must not have been asked at all"
    );
    assert_eq!(stdout(&w.exec(&["images", "-q"])), "");
}
