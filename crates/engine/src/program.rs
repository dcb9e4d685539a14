//! Turning guest bytes into compiled code, and telling what the code is:
//! a core module or a component ([`ProgramKind`], from the header), which
//! WASI it targets ([`WasiVersion`]) and whether it is a command or a
//! `wasi:http` service ([`World`]), from the compiled component's exports.

use std::borrow::Cow;

use sha2::{Digest, Sha256};
use tracing::{debug, info_span, warn};

use crate::{CacheOutcome, CompileCache, EngineError};

/// What kind of guest a [`Program`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramKind {
    /// A WASI preview 1 core module, started through `_start`.
    Module,
    /// A WASI 0.2 component, started through `wasi:cli/run`.
    Component,
}

impl ProgramKind {
    /// The kind of the binary guest `binary` (see [`to_binary`]), from its
    /// 8-byte header alone; anything that is neither a module nor a
    /// component is [`EngineError::NotWasm`].
    pub fn of(binary: &[u8]) -> Result<Self, EngineError> {
        detect(binary)
    }

    /// A short name for logs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Module => "core module (WASI preview 1)",
            Self::Component => "component (WASI 0.2)",
        }
    }
}

/// Which WASI a [`Program`] is written against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasiVersion {
    /// WASI preview 1: a core module.
    Preview1,
    /// WASI 0.2: a component with synchronous exports.
    P2,
    /// WASI 0.3: a component using the component model's async ABI.
    P3,
}

impl WasiVersion {
    /// How users name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preview1 => "WASI preview 1",
            Self::P2 => "WASI 0.2",
            Self::P3 => "WASI 0.3",
        }
    }
}

/// How a [`Program`] is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// Run to completion: `_start`, or `wasi:cli/run`.
    Command,
    /// Served over HTTP, a fresh instance per request:
    /// `wasi:http/incoming-handler@0.2` or `wasi:http/handler@0.3`.
    HttpService,
}

impl World {
    /// How users name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::HttpService => "wasi:http service",
        }
    }
}

/// The export names that classify a component, most specific first. A
/// component may export several (WASI 0.3 toolchains also export
/// `wasi:cli/run@0.2.0`, whose body may be `unreachable`), so the first
/// match wins.
const CLASSIFYING_EXPORTS: [(&str, WasiVersion, World); 4] = [
    ("wasi:http/handler@0.3", WasiVersion::P3, World::HttpService),
    (
        "wasi:http/incoming-handler@0.2",
        WasiVersion::P2,
        World::HttpService,
    ),
    ("wasi:cli/run@0.3", WasiVersion::P3, World::Command),
    ("wasi:cli/run@0.2", WasiVersion::P2, World::Command),
];

/// The WASI version and world of a component exporting `names`. A
/// component with none of the known exports is taken for a WASI 0.2
/// command, which then fails to start with a message naming
/// `wasi:cli/run`.
fn classify_exports<'a>(names: impl Iterator<Item = &'a str> + Clone) -> (WasiVersion, World) {
    CLASSIFYING_EXPORTS
        .iter()
        .find(|(prefix, _, _)| names.clone().any(|name| name.starts_with(prefix)))
        .map_or((WasiVersion::P2, World::Command), |&(_, version, world)| {
            (version, world)
        })
}

#[derive(Clone)]
pub(crate) enum Compiled {
    Module(wasmtime::Module),
    Component(wasmtime::component::Component),
}

/// A compiled guest, ready to be run any number of times.
#[derive(Clone)]
pub struct Program {
    pub(crate) compiled: Compiled,
    wasi: WasiVersion,
    world: World,
    digest: [u8; 32],
    cache: CacheOutcome,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("kind", &self.kind())
            .field("wasi", &self.wasi)
            .field("world", &self.world)
            .field("digest", &self.digest())
            .field("cache", &self.cache)
            .finish()
    }
}

impl Program {
    /// Module or component.
    pub fn kind(&self) -> ProgramKind {
        match self.compiled {
            Compiled::Module(_) => ProgramKind::Module,
            Compiled::Component(_) => ProgramKind::Component,
        }
    }

    /// The WASI version the guest is written against.
    pub fn wasi(&self) -> WasiVersion {
        self.wasi
    }

    /// Whether the guest is a command or a `wasi:http` service.
    pub fn world(&self) -> World {
        self.world
    }

    /// What the guest is, for users: `WASI 0.3 component (wasi:http
    /// service)`, `WASI preview 1 core module (command)`.
    pub fn describe(&self) -> String {
        let noun = match self.kind() {
            ProgramKind::Module => "core module",
            ProgramKind::Component => "component",
        };
        format!("{} {noun} ({})", self.wasi.as_str(), self.world.as_str())
    }

    /// `sha256:<hex>` of the guest's binary form (after WAT was converted).
    /// For a guest pulled as a single layer this is the layer digest.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.digest))
    }

    /// What the compile cache did when this program was loaded.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    /// Compiles (or loads from `cache`) the guest in `bytes`, which may be a
    /// binary module, a binary component or WebAssembly text.
    pub(crate) fn load(
        engine: &wasmtime::Engine,
        cache: Option<&CompileCache>,
        bytes: &[u8],
    ) -> Result<Self, EngineError> {
        let binary = to_binary(bytes)?;
        let kind = detect(&binary)?;
        let digest: [u8; 32] = Sha256::digest(&binary).into();
        let span = info_span!("load", digest = %hex::encode(&digest[..6]), kind = kind.as_str());
        let _enter = span.enter();

        let Some(cache) = cache else {
            let compiled = compile(engine, kind, &binary)?;
            return Ok(Self::new(engine, compiled, digest, CacheOutcome::Disabled));
        };

        let path = cache.entry_path(&digest);
        if let Some(compiled) = cache.in_flight(&path) {
            return Ok(Self::new(engine, compiled, digest, CacheOutcome::Hit));
        }
        let outcome = match cached(engine, cache, &path, Some(kind)) {
            Ok(Some(compiled)) => {
                return Ok(Self::new(engine, compiled, digest, CacheOutcome::Hit));
            }
            Ok(None) => CacheOutcome::Miss,
            Err(Discarded) => CacheOutcome::Rejected,
        };

        let compiled = compile(engine, kind, &binary)?;
        // The guest runs from `compiled` now; serialising, hashing and
        // writing the entry (16 MB of code for a 10 MB module) happen
        // beside it.
        cache.write_in_background(path, compiled.clone());
        Ok(Self::new(engine, compiled, digest, outcome))
    }
}

impl Program {
    /// The cached compiled code of the guest whose binary hashes to
    /// `digest`, without its bytes: `None` when the cache has no entry (or
    /// one that fails verification, which is then removed). A caller that
    /// knows a guest's digest before holding its bytes (a layer digest)
    /// skips reading and hashing them.
    pub(crate) fn load_cached(
        engine: &wasmtime::Engine,
        cache: Option<&CompileCache>,
        digest: [u8; 32],
    ) -> Option<Self> {
        let cache = cache?;
        let path = cache.entry_path(&digest);
        let compiled = match cache.in_flight(&path) {
            Some(compiled) => compiled,
            None => cached(engine, cache, &path, None).ok()??,
        };
        Some(Self::new(engine, compiled, digest, CacheOutcome::Hit))
    }
}

impl Program {
    /// `compiled`, classified from its exports (which a cache hit has
    /// too, so no bytes are needed).
    fn new(
        engine: &wasmtime::Engine,
        compiled: Compiled,
        digest: [u8; 32],
        cache: CacheOutcome,
    ) -> Self {
        let (wasi, world) = match &compiled {
            Compiled::Module(_) => (WasiVersion::Preview1, World::Command),
            Compiled::Component(c) => {
                let ty = c.component_type();
                let names: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
                classify_exports(names.iter().copied())
            }
        };
        debug!(wasi = wasi.as_str(), world = world.as_str(), "classified");
        Self {
            compiled,
            wasi,
            world,
            digest,
            cache,
        }
    }
}

/// A cache entry that existed but was not trusted, and was removed.
struct Discarded;

/// The compiled code in the cache entry at `path`, deserialized as `kind`,
/// or as whatever kind its precompiled header says when `kind` is `None`.
/// `Ok(None)` when there is no entry; an entry that fails verification or
/// deserialization is removed.
fn cached(
    engine: &wasmtime::Engine,
    cache: &CompileCache,
    path: &std::path::Path,
    kind: Option<ProgramKind>,
) -> Result<Option<Compiled>, Discarded> {
    let verified = cache.read(path).and_then(|payload| {
        let Some(payload) = payload else {
            return Ok(None);
        };
        let kind = match (kind, wasmtime::Engine::detect_precompiled(&payload)) {
            (Some(kind), _) => kind,
            (None, Some(wasmtime::Precompiled::Module)) => ProgramKind::Module,
            (None, Some(wasmtime::Precompiled::Component)) => ProgramKind::Component,
            (None, None) => return Err("not precompiled code".to_string()),
        };
        deserialize(engine, kind, &payload).map(Some)
    });
    match verified {
        Ok(Some(compiled)) => {
            debug!(path = %path.display(), "compile cache hit");
            Ok(Some(compiled))
        }
        Ok(None) => Ok(None),
        Err(reason) => {
            warn!(path = %path.display(), %reason, "discarding compile cache entry");
            cache.discard(path);
            Err(Discarded)
        }
    }
}

/// The binary form of `bytes`: itself when it starts with the wasm magic,
/// otherwise the result of parsing it as WebAssembly text. Anything else is
/// [`EngineError::NotWasm`].
pub fn to_binary(bytes: &[u8]) -> Result<Cow<'_, [u8]>, EngineError> {
    if bytes.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(bytes));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(EngineError::NotWasm {
            reason: "no \\0asm header and not UTF-8 text".into(),
        });
    };
    let trimmed = text.trim_start();
    let looks_like_wat = trimmed.starts_with('(') || trimmed.starts_with(";;");
    if !looks_like_wat {
        return Err(EngineError::NotWasm {
            reason: "no \\0asm header and not WebAssembly text".into(),
        });
    }
    wat::parse_str(text)
        .map(Cow::Owned)
        .map_err(|e| EngineError::Compile(e.into()))
}

/// Reads the version field of the binary header.
fn detect(binary: &[u8]) -> Result<ProgramKind, EngineError> {
    match binary.get(4..8) {
        Some([1, 0, 0, 0]) => Ok(ProgramKind::Module),
        // Component binaries: version 0x0d, layer 1.
        Some([0x0d, 0, 1, 0]) => Ok(ProgramKind::Component),
        Some(other) => Err(EngineError::NotWasm {
            reason: format!("unsupported binary version {other:02x?}"),
        }),
        None => Err(EngineError::Compile(
            "truncated: the 8-byte header is incomplete".into(),
        )),
    }
}

fn compile(
    engine: &wasmtime::Engine,
    kind: ProgramKind,
    binary: &[u8],
) -> Result<Compiled, EngineError> {
    let started = std::time::Instant::now();
    let compiled = match kind {
        ProgramKind::Module => wasmtime::Module::from_binary(engine, binary).map(Compiled::Module),
        ProgramKind::Component => {
            wasmtime::component::Component::from_binary(engine, binary).map(Compiled::Component)
        }
    }
    .map_err(|e| EngineError::Compile(e.into()))?;
    debug!(elapsed = ?started.elapsed(), "compiled");
    Ok(compiled)
}

#[allow(unsafe_code)]
fn deserialize(
    engine: &wasmtime::Engine,
    kind: ProgramKind,
    payload: &[u8],
) -> Result<Compiled, String> {
    // wasmtime only deserializes code whose precompiled kind matches.
    let precompiled = wasmtime::Engine::detect_precompiled(payload);
    let result = match (kind, precompiled) {
        // SAFETY: `deserialize` trusts its input to be code wasmtime
        // produced. This payload passed `CompileCache::read`'s sha256 check,
        // which only entries written by `CompileCache::write` (the output of
        // `serialize()` by this process or another wasmpod) pass, and the
        // cache key includes the engine's compatibility hash; wasmtime then
        // verifies its own header (version, target, settings) as well.
        (ProgramKind::Module, Some(wasmtime::Precompiled::Module)) => unsafe {
            wasmtime::Module::deserialize(engine, payload).map(Compiled::Module)
        },
        // SAFETY: as above.
        (ProgramKind::Component, Some(wasmtime::Precompiled::Component)) => unsafe {
            wasmtime::component::Component::deserialize(engine, payload).map(Compiled::Component)
        },
        _ => return Err("not precompiled code of the expected kind".into()),
    };
    result.map_err(|e| format!("{e:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kinds_and_rejects_non_wasm() {
        assert_eq!(
            detect(&wat::parse_str("(module)").expect("wat")).expect("kind"),
            ProgramKind::Module
        );
        assert_eq!(
            detect(&wat::parse_str("(component)").expect("wat")).expect("kind"),
            ProgramKind::Component
        );
        assert!(matches!(
            to_binary(b"\x7fELF\x02\x01"),
            Err(EngineError::NotWasm { .. })
        ));
        assert!(matches!(
            to_binary(b"#!/bin/sh\necho hi\n"),
            Err(EngineError::NotWasm { .. })
        ));
        assert!(matches!(detect(b"\0asm\x01"), Err(EngineError::Compile(_))));
        assert!(matches!(
            detect(b"\0asm\x02\0\0\0"),
            Err(EngineError::NotWasm { .. })
        ));
        assert!(matches!(
            to_binary(b"(module (func $f (unknown)))"),
            Err(EngineError::Compile(_))
        ));
    }

    #[test]
    fn classifies_components_by_their_exports_most_specific_first() {
        let cases: [(&[&str], (WasiVersion, World)); 6] = [
            (
                &["wasi:cli/run@0.2.0", "wasi:http/handler@0.3.0"],
                (WasiVersion::P3, World::HttpService),
            ),
            (
                &["wasi:cli/run@0.2.0", "wasi:cli/run@0.3.0"],
                (WasiVersion::P3, World::Command),
            ),
            (
                &["wasi:http/incoming-handler@0.2.6"],
                (WasiVersion::P2, World::HttpService),
            ),
            (&["wasi:cli/run@0.2.3"], (WasiVersion::P2, World::Command)),
            (&["my:lib/api"], (WasiVersion::P2, World::Command)),
            (
                &["wasi:cli/run@0.3.0", "wasi:http/incoming-handler@0.2.0"],
                (WasiVersion::P2, World::HttpService),
            ),
        ];
        for (exports, expected) in cases {
            assert_eq!(
                classify_exports(exports.iter().copied()),
                expected,
                "{exports:?}"
            );
        }
    }

    #[test]
    fn a_cache_hit_is_classified_like_a_fresh_compile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = wasmtime::Config::new();
        config.wasm_component_model_async(true);
        let engine = wasmtime::Engine::new(&config).expect("engine");
        let cache = CompileCache::open(dir.path(), &engine).expect("cache");
        let wat = br#"(component
            (core module $m (func (export "run") (result i32) i32.const 0))
            (core instance $i (instantiate $m))
            (func $run (result (result)) (canon lift (core func $i "run")))
            (instance $e (export "run" (func $run)))
            (export "wasi:cli/run@0.3.0" (instance $e)))"#;
        let first = Program::load(&engine, Some(&cache), wat).expect("first");
        assert_eq!(first.cache_outcome(), CacheOutcome::Miss);
        let binary = wat::parse_bytes(wat).expect("wat");
        let digest: [u8; 32] = Sha256::digest(&binary).into();
        let hit = Program::load_cached(&engine, Some(&cache), digest).expect("hit");
        for p in [&first, &hit] {
            assert_eq!((p.wasi(), p.world()), (WasiVersion::P3, World::Command));
            assert_eq!(p.describe(), "WASI 0.3 component (command)");
        }
        let module = Program::load(&engine, None, b"(module)").expect("module");
        assert_eq!(module.describe(), "WASI preview 1 core module (command)");
    }

    #[test]
    fn load_hits_the_cache_the_second_time_and_rejects_foreign_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = wasmtime::Engine::default();
        let cache = CompileCache::open(dir.path(), &engine).expect("cache");
        let wat = b"(module (func (export \"_start\")))";

        let first = Program::load(&engine, Some(&cache), wat).expect("first");
        assert_eq!(first.cache_outcome(), CacheOutcome::Miss);
        let second = Program::load(&engine, Some(&cache), wat).expect("second");
        assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
        assert_eq!(first.digest(), second.digest());

        // A well-formed entry holding code for another module is not what
        // wasmtime produced for this key; it must be rejected, not run.
        cache.finish_writes();
        let binary = wat::parse_str("(module (func (export \"_start\")))").expect("wat");
        let digest: [u8; 32] = Sha256::digest(&binary).into();
        let path = cache.entry_path(&digest);
        cache.write(&path, b"\x7fELF not really");
        let third = Program::load(&engine, Some(&cache), wat).expect("third");
        assert_eq!(third.cache_outcome(), CacheOutcome::Rejected);
        let fourth = Program::load(&engine, Some(&cache), wat).expect("fourth");
        assert_eq!(fourth.cache_outcome(), CacheOutcome::Hit);
    }

    /// The names in the cache folder, sorted.
    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_miss_is_stored_in_the_background_whole_and_loaded_by_the_next_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = wasmtime::Engine::default();
        let cache = CompileCache::open(dir.path(), &engine).expect("cache");
        let wat = b"(module (func (export \"_start\")))";

        let first = Program::load(&engine, Some(&cache), wat).expect("first");
        assert_eq!(first.cache_outcome(), CacheOutcome::Miss);
        // In this process, the code is there while its entry is written.
        let again = Program::load(&engine, Some(&cache), wat).expect("again");
        assert_eq!(again.cache_outcome(), CacheOutcome::Hit);

        cache.finish_writes();
        let path = cache.entry_path(&first.digest);
        let entry = format!("{}", path.file_name().expect("name").to_string_lossy());
        assert_eq!(names(dir.path()), [entry], "one whole entry, no temp file");
        let payload = cache.read(&path).expect("verified").expect("present");
        assert_eq!(
            wasmtime::Engine::detect_precompiled(&payload),
            Some(wasmtime::Precompiled::Module)
        );

        // Another process (a cache with nothing in flight) loads it.
        let next = CompileCache::open(dir.path(), &engine).expect("cache");
        let hit = Program::load(&engine, Some(&next), wat).expect("hit");
        assert_eq!(hit.cache_outcome(), CacheOutcome::Hit);
        let by_digest = Program::load_cached(&engine, Some(&next), first.digest).expect("hit");
        assert_eq!(by_digest.cache_outcome(), CacheOutcome::Hit);
    }

    #[test]
    fn a_write_cut_short_is_never_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = wasmtime::Engine::default();
        let wat = b"(module (func (export \"_start\")))";
        let whole = {
            let cache = CompileCache::open(dir.path().join("whole"), &engine).expect("cache");
            let p = Program::load(&engine, Some(&cache), wat).expect("compile");
            cache.finish_writes();
            std::fs::read(cache.entry_path(&p.digest)).expect("entry")
        };

        // A process killed while writing leaves its temporary file, never
        // the entry: the next load compiles and stores a whole one.
        let cache = CompileCache::open(dir.path().join("c"), &engine).expect("cache");
        let tmp = dir.path().join("c").join(".tmp-killed");
        std::fs::write(&tmp, &whole[..whole.len() / 2]).expect("half");
        let p = Program::load(&engine, Some(&cache), wat).expect("load");
        assert_eq!(p.cache_outcome(), CacheOutcome::Miss);
        cache.finish_writes();
        assert_eq!(
            std::fs::read(cache.entry_path(&p.digest)).expect("entry"),
            whole
        );

        // Half an entry in its place (a crash of a file system that kept
        // the rename but not the data) fails its checksum: recompiled.
        let path = cache.entry_path(&p.digest);
        std::fs::write(&path, &whole[..whole.len() / 2]).expect("half");
        let next = CompileCache::open(dir.path().join("c"), &engine).expect("cache");
        assert!(Program::load_cached(&engine, Some(&next), p.digest).is_none());
        std::fs::write(&path, &whole[..whole.len() / 2]).expect("half");
        let p = Program::load(&engine, Some(&next), wat).expect("load");
        assert_eq!(p.cache_outcome(), CacheOutcome::Rejected);
        next.finish_writes();
        assert_eq!(std::fs::read(&path).expect("entry"), whole);
    }
}
