//! The Kubernetes end-to-end suite lives in `tests/k8s.rs`; this crate has
//! no library code.
