//! `containerd-shim-wasmpod-v1`: containerd calls it; people do not.

fn main() {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("containerd-shim-wasmpod-v1: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    runtime.block_on(
        containerd_shim::asynchronous::run::<wasmpod_shim::WasmShim>(
            wasmpod_shim::RUNTIME_TYPE,
            None,
        ),
    );
    // Do not wait for blocking-pool threads (a stdin FIFO nobody opened
    // keeps one in open(2)): the server is done, so the process is.
    std::process::exit(0);
}
