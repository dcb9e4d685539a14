//! The node's trust policy: which images may run on this node, checked
//! before a container is prepared (before its module is read or
//! compiled), for every kind of image (compat, Wasm layers, the CNCF
//! artifact).
//!
//! The policy is the file the CLI reads (docs/signing.md), at
//! [`POLICY_PATH`] or where [`POLICY_ENV`] in containerd's environment
//! says. It is read at each container's creation, so a new policy needs
//! no restart; without the file every image runs, as before policies. A
//! file that cannot be used refuses every container until it is fixed:
//! a broken policy never means "no policy".
//!
//! containerd tells which image the container was created from and which
//! digest its name points to; the policy's rule for the name decides,
//! with signatures fetched from the image's registry unless the
//! verified-signature cache (the node's `WASMPOD_HOME`, shared with the
//! CLI run as root) already answers. The container's rootfs must then sit
//! on that digest's layers, and a module in a Wasm layer is read from that
//! digest's manifest, so what runs is what was checked even if the name
//! was pulled again in between.
//!
//! A refusal fails containerd's Create with a message naming the image,
//! the rule and the reason; under Kubernetes the kubelet shows it as the
//! pod's `Failed` event. A pod's sandbox runs nothing and is not checked.

use std::path::PathBuf;
use std::time::Duration;

use tracing::{debug, info};
use wasmpod_oci::auth::AuthFiles;
use wasmpod_oci::trust::policy::Scope;
use wasmpod_oci::trust::{self, Action, Trust, Verdict, VerifiedCache};
use wasmpod_oci::{ClientOptions, ImageRef, OciError, RegistryClient};

use crate::content::{ContainerImage, ContentError, Store};

/// Where the node's policy is.
pub const POLICY_PATH: &str = "/etc/wasmpod/policy.toml";
/// Names another policy file (set in containerd's environment).
pub const POLICY_ENV: &str = "WASMPOD_NODE_POLICY";
/// How long fetching one image's signatures may take before the container
/// is refused (the registry client retries within it).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);
/// Registry credentials are looked for here when no state folder is known.
const DEFAULT_HOME: &str = "/var/lib/wasmpod";

/// Why the node's policy refused a container (or could not decide, which
/// refuses it too).
#[derive(Debug, thiserror::Error)]
pub enum AdmissionError {
    /// The policy or a key it names cannot be used, or the policy refuses
    /// the image, or its signatures could not be fetched.
    #[error(transparent)]
    Trust(#[from] OciError),
    #[error("cannot tell which image container {id} was created from")]
    Image {
        id: String,
        #[source]
        source: ContentError,
    },
    #[error("container {0} has no image, and the default rule is not allow-unsigned")]
    NoImage(String),
    #[error("containerd names the image by its ID {0}, not by a reference a rule could match")]
    NotAName(String),
    #[error("containerd names the image {name:?}, which is not an image reference")]
    Reference {
        name: String,
        #[source]
        source: wasmpod_oci::ReferenceError,
    },
    #[error("cannot fetch signatures from the host's network")]
    HostNetwork(#[source] std::io::Error),
    #[error("{name}: its signatures were not fetched in {VERIFY_TIMEOUT:?}")]
    Timeout { name: String },
    #[error("{name}: the container's rootfs is not the image that was checked")]
    Rootfs {
        name: String,
        #[source]
        source: ContentError,
    },
}

/// The node's policy file, and what checking against it needs.
pub(crate) struct NodePolicy {
    path: PathBuf,
    /// Named explicitly (`WASMPOD_NODE_POLICY`): then a missing file is an
    /// error, not "no policy", so a typo or an unmounted folder cannot
    /// turn the checks off.
    required: bool,
    /// The node's state folder, for the verified-signature cache and
    /// registry credentials.
    home: Option<PathBuf>,
}

impl NodePolicy {
    /// The policy at `$WASMPOD_NODE_POLICY`, else [`POLICY_PATH`].
    pub(crate) fn from_env() -> Self {
        let named = std::env::var_os(POLICY_ENV).filter(|p| !p.is_empty());
        let required = named.is_some();
        let path = named.map_or_else(|| PathBuf::from(POLICY_PATH), PathBuf::from);
        Self {
            required,
            ..Self::new(path, wasmpod_engine::home::default_home())
        }
    }

    pub(crate) fn new(path: PathBuf, home: Option<PathBuf>) -> Self {
        Self {
            path,
            required: false,
            home,
        }
    }

    /// Whether there is a policy (which may still be unusable).
    pub(crate) fn is_set(&self) -> bool {
        self.required || std::fs::symlink_metadata(&self.path).is_ok()
    }

    /// The file this policy is read from, for messages.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The policy with its keys, or `None` when there is no policy file.
    fn trust(&self) -> Result<Option<(Trust, trust::Policy)>, OciError> {
        match std::fs::symlink_metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.required => {
                return Ok(None);
            }
            _ => {}
        }
        let policy = trust::read_policy(&self.path)?;
        let cache = self
            .home
            .as_ref()
            .map(|h| VerifiedCache::new(h.join("trust").join("verified")));
        Ok(Some((
            Trust::new(Some(policy.clone()), vec![], cache)?,
            policy,
        )))
    }

    /// Whether container `id` may run. `Ok(None)`: there is no policy.
    /// `Ok(Some(image))`: the policy lets `image` run, and the container's
    /// rootfs is that image's.
    pub(crate) async fn admit(
        &self,
        id: &str,
        store: Option<&Store>,
    ) -> Result<Option<ContainerImage>, AdmissionError> {
        let started = std::time::Instant::now();
        let Some((trust, policy)) = self.trust()? else {
            return Ok(None);
        };
        let loaded = started.elapsed();
        let image_of = |source| AdmissionError::Image {
            id: id.to_string(),
            source,
        };
        let store = store.ok_or_else(|| image_of(ContentError::NoAddress))?;
        let image = match store.image(id).await {
            Ok(image) => image,
            // A container made from a rootfs alone (`ctr run --rootfs`)
            // has no name a rule could match: only a default rule that lets
            // anything run lets it run.
            Err(ContentError::NoImage(_)) => {
                return match policy.rules().find(|r| r.scope == Scope::Default) {
                    Some(r) if r.action == Action::AllowUnsigned && r.digests.is_empty() => {
                        Ok(None)
                    }
                    _ => Err(AdmissionError::NoImage(id.to_string())),
                };
            }
            Err(e) => return Err(image_of(e)),
        };
        let asked = started.elapsed();
        // A name that is an image ID (`sha256:…`) names no registry or
        // repository a rule could match: it would fall to the default rule
        // whatever the image is.
        if image.name.starts_with("sha256:") {
            return Err(AdmissionError::NotAName(image.name.clone()));
        }
        let reference =
            ImageRef::parse(&image.name).map_err(|source| AdmissionError::Reference {
                name: image.name.clone(),
                source,
            })?;
        let admission = trust.admit(&reference)?;
        let verdict = match admission.check_cached(&image.digest)? {
            Some(verdict) => verdict,
            None => {
                // Fetched from the host's network, as containerd pulled
                // the image: the shim server itself lives in the pod's.
                let (trust, home, digest) = (trust.clone(), self.home.clone(), image.digest);
                let name = image.name.clone();
                tokio::task::spawn_blocking(move || {
                    crate::netns::in_host_network(|| {
                        fetch_and_verify(&trust, home.as_deref(), &reference, &digest, &name)
                    })
                })
                .await
                .map_err(|e| AdmissionError::HostNetwork(std::io::Error::other(e)))?
                .map_err(AdmissionError::HostNetwork)??
            }
        };
        let decided = started.elapsed();
        let chains = self.home.as_ref().map(|h| h.join("trust").join("chains"));
        store
            .check_rootfs(&image, chains.as_deref())
            .await
            .map_err(|source| AdmissionError::Rootfs {
                name: image.name.clone(),
                source,
            })?;
        let micros = started.elapsed().as_micros();
        // Where the time went: reading the policy and keys, asking
        // containerd for the image, deciding, checking the rootfs.
        let steps = format!(
            "{}/{}/{}/{}",
            loaded.as_micros(),
            (asked - loaded).as_micros(),
            (decided - asked).as_micros(),
            micros - decided.as_micros()
        );
        match &verdict {
            Verdict::Signed { cached: false, .. } => {
                info!(container = %id, image = %image.name, digest = %image.digest, rule = admission.rule(), verdict = %verdict.describe(), micros, steps, "admitted by the node policy")
            }
            _ => {
                debug!(container = %id, image = %image.name, digest = %image.digest, rule = admission.rule(), verdict = %verdict.describe(), micros, steps, "admitted by the node policy")
            }
        }
        Ok(Some(image))
    }
}

/// Fetches `reference`'s signatures and decides about `digest`, on a
/// runtime of this thread's own (it runs in the host's network namespace;
/// a connection must not outlive it). A client is built per fetch: the
/// cache answers every later container of the same image.
fn fetch_and_verify(
    trust: &Trust,
    home: Option<&std::path::Path>,
    reference: &ImageRef,
    digest: &wasmpod_oci::Digest,
    name: &str,
) -> Result<Verdict, AdmissionError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AdmissionError::HostNetwork)?;
    // The client's connector is made inside the runtime that drives it.
    let _context = runtime.enter();
    let auth = AuthFiles::standard(home.unwrap_or(std::path::Path::new(DEFAULT_HOME)));
    let client = RegistryClient::new(auth, ClientOptions::default())?;
    let admission = trust.admit(reference)?;
    let verdict = runtime.block_on(tokio::time::timeout(
        VERIFY_TIMEOUT,
        admission.verify(&client, reference, digest),
    ));
    drop(client);
    drop(_context);
    // A name lookup stuck in the resolver must not hold the Create: the
    // runtime's blocking threads are left behind, not waited for.
    runtime.shutdown_background();
    verdict
        .map_err(|_| AdmissionError::Timeout {
            name: name.to_string(),
        })?
        .map_err(AdmissionError::from)
}
