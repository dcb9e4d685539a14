//! The trust flags `run`, `pull` and `up` share (`--policy`,
//! `--verify-key`), turned into the library's [`Trust`] in one place.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use wasmpod_oci::trust::{self, Trust, VerifiedCache};

/// The file name of the policy in the state folder.
pub const POLICY_FILE: &str = "policy.toml";

/// Flags that choose which images may run.
#[derive(Debug, Args, Clone, Default)]
pub struct TrustArgs {
    /// Also require a cosign signature by this public key (repeatable: one
    /// of the keys must have signed). Adds to the policy; never lifts a
    /// deny or a digest pin.
    #[arg(long = "verify-key", value_name = "PATH")]
    pub verify_key: Vec<PathBuf>,

    /// The trust policy to apply, instead of $WASMPOD_HOME/policy.toml.
    #[arg(long, value_name = "PATH")]
    pub policy: Option<PathBuf>,
}

impl TrustArgs {
    /// The policy (`--policy`, else `$WASMPOD_HOME/policy.toml` when it
    /// exists, else none), its keys and `--verify-key`'s, with the
    /// verified-signature cache in the state folder.
    pub fn load(&self) -> anyhow::Result<Trust> {
        let home = super::oci::home()?;
        let path = match &self.policy {
            Some(p) => Some(p.clone()),
            None => {
                let default = home.join(POLICY_FILE);
                match std::fs::metadata(&default) {
                    Ok(_) => Some(default),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("cannot read {}", default.display()));
                    }
                }
            }
        };
        let policy = path.as_deref().map(trust::read_policy).transpose()?;
        let keys = self
            .verify_key
            .iter()
            .map(|p| trust::read_public_key(p))
            .collect::<Result<Vec<_>, _>>()?;
        let cache = VerifiedCache::new(home.join("trust").join("verified"));
        Ok(Trust::new(policy, keys, Some(cache))?)
    }
}
