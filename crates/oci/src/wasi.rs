//! Which WASI a module or component targets, told from its bytes, for what
//! `images`, `inspect` and a pushed artifact's config (its `os` and
//! `component` block) say about it.

use crate::OciError;
use crate::manifest::ComponentInfo;

/// The WASI a guest targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasiVersion {
    /// A core module (WASI preview 1, `wasi_snapshot_preview1`).
    Preview1,
    /// A component whose WASI interfaces are 0.2 (`@0.2.x`).
    P2,
    /// A component with a WASI 0.3 interface (`@0.3.x`), the async one.
    P3,
    /// A component that names no WASI interface.
    None,
}

impl WasiVersion {
    /// `preview1`, `0.2`, `0.3` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preview1 => "preview1",
            Self::P2 => "0.2",
            Self::P3 => "0.3",
            Self::None => "none",
        }
    }

    /// The `os` of a Wasm artifact's config: `wasip1`, `wasip2`, `wasip3`.
    pub fn os(self) -> &'static str {
        match self {
            Self::Preview1 => "wasip1",
            Self::P2 | Self::None => "wasip2",
            Self::P3 => "wasip3",
        }
    }
}

/// The WASI `wasm` targets: a core module is preview 1; a component is 0.3
/// if any of its own (top-level) imports or exports is a `wasi:` interface
/// at 0.3 (commands and services built for 0.3 also export the 0.2
/// entry point), else 0.2 if any is at 0.2.
pub fn wasi_version(wasm: &[u8]) -> Result<WasiVersion, OciError> {
    if !is_component(wasm) {
        return Ok(WasiVersion::Preview1);
    }
    let info = component_info(wasm)?;
    let versions: Vec<&str> = info
        .imports
        .iter()
        .chain(&info.exports)
        .filter_map(|name| name.strip_prefix("wasi:")?.split_once('@'))
        .map(|(_, version)| version)
        .collect();
    Ok(if versions.iter().any(|v| v.starts_with("0.3")) {
        WasiVersion::P3
    } else if versions.iter().any(|v| v.starts_with("0.2")) {
        WasiVersion::P2
    } else {
        WasiVersion::None
    })
}

/// Whether bytes are a component (rather than a core module).
pub(crate) fn is_component(wasm: &[u8]) -> bool {
    wasm.get(4..8) == Some(&[0x0d, 0, 1, 0])
}

/// The top-level imports and exports of a component, by name.
pub(crate) fn component_info(wasm: &[u8]) -> Result<ComponentInfo, OciError> {
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| OciError::invalid("component", e.to_string()))?;
        match payload {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import
                        .map_err(|e| OciError::invalid("component imports", e.to_string()))?;
                    imports.push(import.name.name.to_string());
                }
            }
            wasmparser::Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export
                        .map_err(|e| OciError::invalid("component exports", e.to_string()))?;
                    exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(ComponentInfo {
        exports,
        imports,
        target: None,
    })
}

#[cfg(test)]
mod tests {
    use super::{WasiVersion, wasi_version};

    #[test]
    fn modules_and_components_by_their_interfaces() {
        let module = std::fs::read(wasmpod_test_guests::PROBE).expect("probe");
        assert_eq!(
            wasi_version(&module).expect("module"),
            WasiVersion::Preview1
        );
        let p2 = std::fs::read(wasmpod_test_guests::PROBE_COMPONENT).expect("component");
        assert_eq!(wasi_version(&p2).expect("0.2"), WasiVersion::P2);
        let bare = wat::parse_str("(component)").expect("wat");
        assert_eq!(wasi_version(&bare).expect("bare"), WasiVersion::None);
        let p3 = wat::parse_str(
            r#"(component
                 (import "wasi:cli/environment@0.2.4" (instance))
                 (import "wasi:cli/environment@0.3.0" (instance)))"#,
        )
        .expect("wat");
        assert_eq!(wasi_version(&p3).expect("0.3"), WasiVersion::P3);
        assert!(wasi_version(b"\0asm\x0d\0\x01\0\xff").is_err());
    }
}
