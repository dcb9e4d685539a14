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

/// Most requests one instance of a pod's `wasi:http` component serves
/// before it is dropped, a whole number. Unset (or 1): a fresh instance
/// per request. The same as `wasmpod run --max-instance-reuse-count`.
pub const MAX_INSTANCE_REUSE_COUNT: &str = "wasmpod.dev/max-instance-reuse-count";

/// Most requests one reused WASI 0.3 instance handles at once, a whole
/// number. Unset: 16. The same as `wasmpod run
/// --max-instance-concurrent-reuse-count`.
pub const MAX_INSTANCE_CONCURRENT_REUSE_COUNT: &str =
    "wasmpod.dev/max-instance-concurrent-reuse-count";

/// The largest [`MAX_INSTANCE_REUSE_COUNT`].
pub const MAX_REUSE_COUNT: usize = 1_000_000;

/// The largest [`MAX_INSTANCE_CONCURRENT_REUSE_COUNT`]: each request in
/// flight holds a few of the instance's resource handles (a store has
/// 1024), so more could not be served at once anyway.
pub const MAX_CONCURRENT_REUSE_COUNT: usize = 100;

/// How a pod's `wasi:http` instances are reused, from
/// [`MAX_INSTANCE_REUSE_COUNT`] and [`MAX_INSTANCE_CONCURRENT_REUSE_COUNT`];
/// `None` where unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstanceReuse {
    /// Requests per instance.
    pub count: Option<usize>,
    /// Requests at once per instance.
    pub concurrent: Option<usize>,
}

/// A reuse annotation that is not a whole number in range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a whole number from 1 to {max}")]
pub struct ReuseCountError {
    /// The annotation's name.
    pub annotation: &'static str,
    /// Its value.
    pub value: String,
    /// The largest value it takes.
    pub max: usize,
}

/// The reuse annotations of `annotations`.
pub fn instance_reuse(
    annotations: &BTreeMap<String, String>,
) -> Result<InstanceReuse, ReuseCountError> {
    let count = |annotation: &'static str, max: usize| {
        annotations
            .get(annotation)
            .map(|value| parse_reuse_count(annotation, value, max))
            .transpose()
    };
    Ok(InstanceReuse {
        count: count(MAX_INSTANCE_REUSE_COUNT, MAX_REUSE_COUNT)?,
        concurrent: count(
            MAX_INSTANCE_CONCURRENT_REUSE_COUNT,
            MAX_CONCURRENT_REUSE_COUNT,
        )?,
    })
}

/// `value` as a reuse count from 1 to `max`; `annotation` (or a flag's
/// name) is recorded in the error, for the caller to name.
pub fn parse_reuse_count(
    annotation: &'static str,
    value: &str,
    max: usize,
) -> Result<usize, ReuseCountError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| ReuseCountError {
            annotation,
            value: value.to_string(),
            max,
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{
        InstanceReuse, MAX_INSTANCE_CONCURRENT_REUSE_COUNT, MAX_INSTANCE_REUSE_COUNT,
        MAX_WASM_STACK, instance_reuse, max_wasm_stack,
    };

    #[test]
    fn reuse_counts_are_whole_numbers_in_range() {
        let with = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            instance_reuse(&BTreeMap::new()),
            Ok(InstanceReuse::default())
        );
        assert_eq!(
            instance_reuse(&with(MAX_INSTANCE_REUSE_COUNT, "128")),
            Ok(InstanceReuse {
                count: Some(128),
                concurrent: None
            })
        );
        assert_eq!(
            instance_reuse(&with(MAX_INSTANCE_CONCURRENT_REUSE_COUNT, "1")),
            Ok(InstanceReuse {
                count: None,
                concurrent: Some(1)
            })
        );
        let err = instance_reuse(&with(MAX_INSTANCE_CONCURRENT_REUSE_COUNT, "101"))
            .expect_err("over 100");
        assert_eq!(
            err.to_string(),
            "\"101\" is not a whole number from 1 to 100"
        );
        for bad in ["0", "-1", "1.5", "lots", "", "1000001"] {
            let err = instance_reuse(&with(MAX_INSTANCE_REUSE_COUNT, bad)).expect_err(bad);
            assert_eq!(err.annotation, MAX_INSTANCE_REUSE_COUNT);
            assert_eq!(
                err.to_string(),
                format!("{bad:?} is not a whole number from 1 to 1000000")
            );
        }
    }

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
