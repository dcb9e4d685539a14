//! Property tests of the parsers that take registry and user input: image
//! references, manifests and image indexes. Random input must never panic,
//! must parse or fail within the documented size limits, and what parses
//! must survive a round trip.

use proptest::prelude::*;
use wasmpod_oci::ImageRef;
use wasmpod_oci::limits::MAX_MANIFEST_BYTES;
use wasmpod_oci::manifest::{ImageIndex, ImageManifest, Manifest};

/// Reference-shaped strings: an optional registry, path components, an
/// optional tag and digest, drawn from the characters references use and a
/// few they must not.
fn reference_like() -> impl Strategy<Value = String> {
    let component = "[a-z0-9A-Z._\\-:/@ ]{0,12}";
    let registry = prop_oneof![
        Just(String::new()),
        Just("localhost:5000/".to_string()),
        Just("ghcr.io/".to_string()),
        Just("127.0.0.1:5000/".to_string()),
        Just("[::1]:5000/".to_string()),
        Just("index.docker.io/".to_string()),
        "[a-z0-9.\\-:\\[\\]]{1,20}/",
    ];
    let digest = prop_oneof![
        Just(String::new()),
        "@sha256:[0-9a-f]{64}",
        "@sha256:[0-9a-fA-F]{0,70}",
        "@[a-z0-9]{1,8}:[0-9a-f]{1,70}",
    ];
    (
        registry,
        prop::collection::vec(component, 1..5),
        prop::option::of("[A-Za-z0-9_.\\-]{0,130}"),
        digest,
    )
        .prop_map(|(reg, parts, tag, digest)| {
            let mut s = reg + &parts.join("/");
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            s + &digest
        })
}

/// Checks one reference input: no panic; if it parses, its Display parses
/// to the same reference and is not much longer than the input (a
/// normalized reference adds at most `docker.io/library/` and `:latest`).
fn check_reference(input: &str) -> Result<(), TestCaseError> {
    let Ok(r) = ImageRef::parse(input) else {
        return Ok(());
    };
    let shown = r.to_string();
    prop_assert!(
        shown.len() <= input.len() + "docker.io/library/".len() + ":latest".len(),
        "{input:?} -> {shown:?}"
    );
    let again = ImageRef::parse(&shown);
    prop_assert_eq!(again.as_ref(), Ok(&r), "{:?} -> {:?}", input, shown);
    prop_assert_eq!(again.map(|a| a.to_string()), Ok(shown));
    Ok(())
}

/// A manifest or index as JSON, with fields that may be missing, of the
/// wrong type, or hostile (huge sizes, bad digests, deep nesting).
fn manifest_like() -> impl Strategy<Value = Vec<u8>> {
    let digest = prop_oneof![
        "sha256:[0-9a-f]{64}".prop_map(serde_json::Value::String),
        "[ -~]{0,80}".prop_map(serde_json::Value::String),
        any::<i64>().prop_map(serde_json::Value::from),
    ];
    let size = prop_oneof![
        any::<u64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(1.5)),
        Just(serde_json::Value::from("12")),
    ];
    let media_type = prop_oneof![
        Just(wasmpod_oci::media::OCI_MANIFEST.to_string()),
        Just(wasmpod_oci::media::OCI_INDEX.to_string()),
        Just(wasmpod_oci::media::DOCKER_MANIFEST.to_string()),
        Just(wasmpod_oci::media::DOCKER_MANIFEST_LIST.to_string()),
        Just(wasmpod_oci::media::WASM_LAYER.to_string()),
        "[ -~]{0,40}",
    ];
    let descriptor = (media_type.clone(), digest, size, any::<bool>()).prop_map(
        |(media_type, digest, size, platform)| {
            let mut d = serde_json::json!({
                "mediaType": media_type, "digest": digest, "size": size,
            });
            if platform {
                d["platform"] = serde_json::json!({"architecture": "wasm", "os": "wasip1"});
            }
            d
        },
    );
    let descriptors = prop::collection::vec(descriptor.clone(), 0..6);
    (
        prop::option::of(media_type),
        prop::option::of(descriptor),
        prop::option::of(descriptors.clone()),
        prop::option::of(descriptors),
        any::<u32>(),
        0usize..200,
    )
        .prop_map(|(media_type, config, layers, manifests, schema, nesting)| {
            let mut doc = serde_json::json!({ "schemaVersion": schema });
            if let Some(m) = media_type {
                doc["mediaType"] = m.into();
            }
            if let Some(c) = config {
                doc["config"] = c;
            }
            if let Some(l) = layers {
                doc["layers"] = l.into();
            }
            if let Some(m) = manifests {
                doc["manifests"] = m.into();
            }
            // Deep nesting in an ignored field: the JSON parser's recursion
            // limit, not the stack, decides.
            let mut bytes = serde_json::to_vec(&doc).expect("json");
            if nesting > 0 {
                bytes.pop();
                bytes.extend_from_slice(b",\"x\":");
                bytes.extend(std::iter::repeat_n(b'[', nesting));
                bytes.extend(std::iter::repeat_n(b']', nesting));
                bytes.push(b'}');
            }
            bytes
        })
}

/// Checks one document: no panic; what parses re-serializes and parses to
/// the same thing.
fn check_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<(), TestCaseError> {
    match Manifest::parse(bytes, content_type) {
        Ok(Manifest::Image(m)) => {
            let again: ImageManifest =
                serde_json::from_slice(&serde_json::to_vec(&*m).expect("json")).expect("reparse");
            prop_assert_eq!(&again, &*m);
        }
        Ok(Manifest::Index(i)) => {
            let again: ImageIndex =
                serde_json::from_slice(&serde_json::to_vec(&i).expect("json")).expect("reparse");
            prop_assert_eq!(&again, &i);
        }
        Err(reason) => prop_assert!(!reason.is_empty()),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn image_ref_parse_never_panics_on_any_string(input in any::<String>()) {
        check_reference(&input)?;
    }

    #[test]
    fn image_ref_parse_round_trips_reference_shaped_input(input in reference_like()) {
        check_reference(&input)?;
    }

    #[test]
    fn manifest_parse_never_panics_on_any_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..4096),
        content_type in prop::option::of(prop_oneof![
            Just(wasmpod_oci::media::OCI_INDEX),
            Just(wasmpod_oci::media::OCI_MANIFEST),
            Just("application/json"),
            Just(""),
        ]),
    ) {
        check_manifest(&bytes, content_type)?;
    }

    #[test]
    fn manifest_and_index_parse_never_panic_on_manifest_shaped_json(
        bytes in manifest_like(),
        content_type in prop::option::of(prop_oneof![
            Just(wasmpod_oci::media::OCI_INDEX),
            Just(wasmpod_oci::media::OCI_MANIFEST),
            Just(wasmpod_oci::media::DOCKER_MANIFEST_LIST),
            Just("application/vnd.example+json"),
        ]),
    ) {
        check_manifest(&bytes, content_type)?;
    }
}

#[test]
fn image_ref_parse_refuses_overlong_input_quickly() {
    for len in [4097usize, 1 << 20] {
        let input = "a".repeat(len);
        let e = ImageRef::parse(&input).expect_err("too long");
        assert!(e.to_string().contains("too long"), "{len}");
    }
}

#[test]
fn manifest_parse_refuses_documents_over_the_manifest_limit() {
    let limit = usize::try_from(MAX_MANIFEST_BYTES).expect("usize");
    // Valid JSON, just too large.
    let mut doc = br#"{"schemaVersion":2,"manifests":[],"x":""#.to_vec();
    doc.extend(std::iter::repeat_n(b'a', limit));
    doc.extend_from_slice(b"\"}");
    let e = Manifest::parse(&doc, None).expect_err("too large");
    assert!(e.contains("over the limit of 4194304"), "{e}");
    // Nesting far past serde_json's recursion limit is an error, not a
    // stack overflow.
    let mut deep = b"{\"x\":".to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    deep.extend(std::iter::repeat_n(b']', 100_000));
    deep.push(b'}');
    assert!(Manifest::parse(&deep, None).is_err());
}
