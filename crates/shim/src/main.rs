//! `containerd-shim-wasmpod-v1`: containerd calls it; people do not.

fn main() {
    std::process::exit(wasmpod_shim::shim::main());
}
