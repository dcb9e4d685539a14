//! Storing freshly compiled code in the compile cache off the path that
//! runs the guest.
//!
//! A guest compiled on a cache miss runs from the code in memory at once;
//! serialising that code, hashing it and writing the entry happen on a
//! thread of their own ([`PendingWrites::start`]), beside the guest. Until
//! the entry is in place, a load of the same guest in this process takes
//! the code from [`PendingWrites::get`] instead of compiling it again.
//! [`PendingWrites::finish`] waits for every write started so far: a
//! process calls it before it exits (dropping the
//! [`Runtime`](crate::Runtime) does) or changes its credentials.
//!
//! What reaches the disk is unchanged: [`CompileCache::write`] writes a
//! temporary file and renames it into place, so no reader ever sees half an
//! entry, and a write cut short (the process killed) leaves only a
//! temporary file no load opens. This module owns only the threads and the
//! table of entries in flight, not the entry format.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tracing::{debug, warn};

use crate::CompileCache;
use crate::program::Compiled;

/// The cache writes of one [`CompileCache`] (and its clones) in flight.
#[derive(Default)]
pub(crate) struct PendingWrites {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Code whose entry is being written, by the entry's path.
    code: HashMap<PathBuf, Compiled>,
    /// The writer threads not yet joined.
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for PendingWrites {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("PendingWrites")
            .field("entries", &state.code.len())
            .field("threads", &state.threads.len())
            .finish()
    }
}

impl PendingWrites {
    /// The code whose entry at `path` is still being written, if any.
    pub(crate) fn get(&self, path: &Path) -> Option<Compiled> {
        self.lock().code.get(path).cloned()
    }

    /// Serialises `compiled` and stores it at `path` in `cache` on a thread
    /// of its own (here, if no thread can be started).
    pub(crate) fn start(self: &Arc<Self>, cache: &CompileCache, path: PathBuf, compiled: Compiled) {
        let mut state = self.lock();
        // Threads that are done need no join; forget them so a long-lived
        // process does not collect handles.
        state.threads.retain(|t| !t.is_finished());
        state.code.insert(path.clone(), compiled.clone());
        let writes = Arc::clone(self);
        let thread_cache = cache.clone();
        let thread_path = path.clone();
        let spawned = std::thread::Builder::new()
            .name("wasmpod-cache-write".into())
            .spawn(move || {
                store(&thread_cache, &thread_path, &compiled);
                writes.lock().code.remove(&thread_path);
            });
        match spawned {
            Ok(thread) => state.threads.push(thread),
            Err(e) => {
                warn!(error = %e, "cannot start a thread for the cache write; writing now");
                let compiled = state.code.remove(&path);
                drop(state);
                if let Some(compiled) = compiled {
                    store(cache, &path, &compiled);
                }
            }
        }
    }

    /// Waits until every write started so far is on disk (or has failed,
    /// which is logged).
    pub(crate) fn finish(&self) {
        let threads = std::mem::take(&mut self.lock().threads);
        if threads.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        for thread in threads {
            if thread.join().is_err() {
                warn!("a compile cache write panicked");
            }
        }
        debug!(waited = ?started.elapsed(), "compile cache writes finished");
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Serialises `compiled` and writes it to `path`.
fn store(cache: &CompileCache, path: &Path, compiled: &Compiled) {
    let serialized = match compiled {
        Compiled::Module(m) => m.serialize(),
        Compiled::Component(c) => c.serialize(),
    };
    match serialized {
        Ok(payload) => cache.write(path, &payload),
        Err(e) => warn!(error = format!("{e:#}"), "cannot serialize compiled code"),
    }
}
