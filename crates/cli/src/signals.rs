//! Ctrl-C and SIGTERM for commands that run until stopped (`run` serving
//! HTTP, `up`): the first one stops gracefully, a later one forces.

/// Spawns a task on the current runtime that calls `first` with the signal
/// number on the first SIGINT or SIGTERM, and `again` with it on every
/// later one.
pub fn on_stop(
    mut first: impl FnMut(i32) + Send + 'static,
    mut again: impl FnMut(i32) + Send + 'static,
) {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered before returning, so a signal sent once the caller says
    // it is ready (a server's first line) is handled.
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot handle SIGINT and SIGTERM; they stop wasmpod at once");
        return;
    };
    tokio::spawn(async move {
        let mut stopping = false;
        loop {
            let n = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
            };
            if stopping {
                again(n);
            } else {
                stopping = true;
                first(n);
            }
        }
    });
}
