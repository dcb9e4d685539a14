//! How the shim states a process's pid and its times to containerd, in
//! task responses and in events alike.

use std::time::SystemTime;

use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;

/// The pid containerd is given for every process: this shim's, since
/// guests are instances inside it.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

pub(crate) fn timestamp(at: SystemTime) -> Timestamp {
    let d = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut t = Timestamp::new();
    t.seconds = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    t.nanos = i32::try_from(d.subsec_nanos()).unwrap_or(0);
    t
}
