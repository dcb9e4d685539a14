//! The pod annotations wasmpod reads, the same in `wasmpod up` and, through
//! containerd's `pod_annotations`, in the shim.

use std::collections::BTreeMap;

use crate::quantity::{Quantity, QuantityError};

/// The most stack a pod's WebAssembly may use, a quantity (`16Mi`). Unset,
/// the engine's default (8 MiB) applies; the engine bounds the value.
pub const MAX_WASM_STACK: &str = "wasmpod.dev/max-wasm-stack";

/// [`MAX_WASM_STACK`] in bytes, if set.
pub fn max_wasm_stack(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<u64>, QuantityError> {
    annotations
        .get(MAX_WASM_STACK)
        .map(|v| Quantity::parse(v).and_then(|q| q.bytes()))
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{MAX_WASM_STACK, max_wasm_stack};

    #[test]
    fn max_wasm_stack_is_a_quantity_of_bytes() {
        let with = |v: &str| BTreeMap::from([(MAX_WASM_STACK.to_string(), v.to_string())]);
        assert_eq!(max_wasm_stack(&BTreeMap::new()), Ok(None));
        assert_eq!(max_wasm_stack(&with("16Mi")), Ok(Some(16 << 20)));
        assert_eq!(max_wasm_stack(&with("1000000")), Ok(Some(1_000_000)));
        assert!(max_wasm_stack(&with("lots")).is_err());
        assert!(max_wasm_stack(&with("-1Mi")).is_err());
    }
}
