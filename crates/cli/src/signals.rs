//! Ctrl-C and SIGTERM for commands that run until stopped (`run` serving
//! HTTP, `up`): the first one stops gracefully, a later one forces.

/// Spawns a task on the current runtime that calls `first` with the signal
/// number on the first SIGINT or SIGTERM, and `again` on every later one.
pub fn on_stop(
    mut first: impl FnMut(i32) + Send + 'static,
    mut again: impl FnMut() + Send + 'static,
) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!("cannot handle SIGINT and SIGTERM; they stop wasmpod at once");
            return;
        };
        let mut stopping = false;
        loop {
            let n = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
            };
            if stopping {
                again();
            } else {
                stopping = true;
                first(n);
            }
        }
    });
}
