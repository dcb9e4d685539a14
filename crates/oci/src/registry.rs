//! An OCI distribution client: manifests and blobs up and down, with
//! anonymous, basic and bearer-token auth, bounded retries, and every byte
//! verified.
//!
//! Transport rules: HTTPS, except for registries on this machine
//! (`localhost`, `127.0.0.0/8`, `::1`) or when the client is built
//! `insecure`, which use plain HTTP. Retries: connection errors and 5xx
//! answers are retried up to [`RegistryClient::ATTEMPTS`] times with
//! exponential backoff (250 ms, 500 ms, ...); chunk uploads (`PATCH`) are not,
//! because a repeated chunk would corrupt the upload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use futures_util::StreamExt;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};
use tracing::{Instrument, debug, info_span, warn};

use crate::auth::{AuthFiles, Credentials};
use crate::manifest::Descriptor;
use crate::store::ContentStore;
use crate::{Digest, ImageRef, OciError};

pub use crate::limits::MAX_MANIFEST_BYTES;
use crate::limits::{MAX_ERROR_BODY_BYTES, MAX_TOKEN_RESPONSE_BYTES};

/// Reports transfer progress per blob. The CLI draws it on a terminal.
pub trait Progress: Send + Sync {
    /// A transfer of `total` bytes named `id` (a short digest) starts.
    fn start(&self, id: &str, total: u64);
    /// `n` more bytes moved.
    fn advance(&self, id: &str, n: u64);
    /// The transfer ended; `note` says how (`done`, `exists`, ...).
    fn finish(&self, id: &str, note: &str);
}

/// Progress that goes nowhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: &str, _: u64) {}
    fn finish(&self, _: &str, _: &str) {}
}

/// What a request needs permission for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Access {
    Pull,
    Push,
}

/// A manifest as served.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub media_type: Option<String>,
    pub digest: Digest,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Plain HTTP for every registry, not only loopback ones.
    pub insecure: bool,
    /// Upload blobs larger than this in chunks of this size; `None` uploads
    /// every blob in one request. Default: 16 MiB.
    pub chunk_size: Option<usize>,
    /// Attempts per request for retryable failures. Default: 4.
    pub attempts: u32,
    /// First backoff; doubles each retry. Default: 250 ms.
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            insecure: false,
            chunk_size: Some(16 << 20),
            attempts: RegistryClient::ATTEMPTS,
            backoff: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, Clone)]
enum Scheme {
    Basic,
    Bearer { token: String },
}

/// Remembered authentication, per (registry, repository, access).
type Schemes = Arc<Mutex<HashMap<(String, String, Access), Scheme>>>;

/// Talks to registries.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    auth: AuthFiles,
    options: ClientOptions,
    schemes: Schemes,
}

enum Body {
    Empty,
    Bytes(bytes::Bytes),
}

impl RegistryClient {
    /// Default attempts for retryable failures.
    pub const ATTEMPTS: u32 = 4;

    pub fn new(auth: AuthFiles, options: ClientOptions) -> Result<Self, OciError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("wasmpod/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 10 {
                    attempt.error("more than 10 redirects")
                } else if redirect_allowed(attempt.previous().last(), attempt.url()) {
                    attempt.follow()
                } else {
                    let to = attempt.url().to_string();
                    attempt.error(format!("refusing a redirect from HTTPS to {to}"))
                }
            }))
            .build()
            .map_err(OciError::HttpClient)?;
        Ok(Self {
            http,
            auth,
            options,
            schemes: Arc::default(),
        })
    }

    /// Whether `registry` is spoken to in plain HTTP: loopback registries
    /// and `--insecure`. The one place the transport rule lives.
    fn plain_http(&self, registry: &str) -> bool {
        self.options.insecure || crate::is_loopback_host(registry)
    }

    /// `https://HOST/v2`, or `http://` when [`plain_http`](Self::plain_http).
    fn registry_root(&self, r: &ImageRef) -> String {
        let scheme = if self.plain_http(r.registry()) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}/v2", r.api_host())
    }

    /// Whether `url` has the scheme, host and port of `r`'s registry API:
    /// the only place its credentials are sent.
    fn is_registry_origin(&self, r: &ImageRef, url: &str) -> bool {
        let (Ok(root), Ok(url)) = (
            reqwest::Url::parse(&self.registry_root(r)),
            reqwest::Url::parse(url),
        ) else {
            return false;
        };
        root.scheme() == url.scheme()
            && root.host_str() == url.host_str()
            && root.port_or_known_default() == url.port_or_known_default()
    }

    fn base(&self, r: &ImageRef) -> String {
        format!("{}/{}", self.registry_root(r), r.repository())
    }

    /// Checks that the registry answers and the credentials (if any) work,
    /// for `wasmpod login`.
    pub async fn check_login(&self, registry: &str, creds: &Credentials) -> Result<(), OciError> {
        let probe = ImageRef::parse(&format!("{registry}/wasmpod-login-check"))?;
        let url = format!("{}/", self.registry_root(&probe));
        let resp = self
            .send_raw(registry, Method::GET, &url, &[], &Body::Empty, None, true)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            StatusCode::UNAUTHORIZED => {
                let challenge = header_str(&resp, WWW_AUTHENTICATE).unwrap_or_default();
                let parsed = parse_challenge(&challenge);
                match parsed {
                    Some(("basic", _)) => {
                        let resp = self
                            .send_raw(
                                registry,
                                Method::GET,
                                &url,
                                &[],
                                &Body::Empty,
                                Some(&basic_header(creds)),
                                true,
                            )
                            .await?;
                        if resp.status().is_success() {
                            Ok(())
                        } else {
                            Err(OciError::Unauthorized {
                                registry: registry.into(),
                                reason: "the registry rejected the user name or password".into(),
                            })
                        }
                    }
                    Some(("bearer", params)) => self
                        .fetch_token(registry, &params, None, Some(creds))
                        .await
                        .map(|_| ()),
                    _ => Err(OciError::Unauthorized {
                        registry: registry.into(),
                        reason: format!("unsupported authentication challenge {challenge:?}"),
                    }),
                }
            }
            status => Err(OciError::Registry {
                registry: registry.into(),
                method: "GET".into(),
                url,
                status: status.as_u16(),
                body: body_snippet(resp).await,
            }),
        }
    }

    /// Fetches the manifest (or index) a reference names. A digest-pinned
    /// reference is verified against the bytes.
    pub async fn get_manifest(&self, r: &ImageRef) -> Result<FetchedManifest, OciError> {
        self.get_manifest_at(r, &r.manifest_reference(), r.digest())
            .await
    }

    /// Fetches a manifest by digest from `r`'s repository.
    pub async fn get_manifest_by_digest(
        &self,
        r: &ImageRef,
        digest: Digest,
    ) -> Result<FetchedManifest, OciError> {
        self.get_manifest_at(r, &digest.to_string(), Some(digest))
            .await
    }

    async fn get_manifest_at(
        &self,
        r: &ImageRef,
        reference: &str,
        expect: Option<Digest>,
    ) -> Result<FetchedManifest, OciError> {
        let url = format!("{}/manifests/{reference}", self.base(r));
        let resp = self
            .send(
                r,
                Access::Pull,
                Method::GET,
                &url,
                &[(ACCEPT, crate::media::ACCEPT_MANIFESTS)],
                Body::Empty,
            )
            .await?;
        let resp = self.expect_ok(r, "GET", &url, resp).await?;
        let media_type = header_str(&resp, CONTENT_TYPE)
            .map(|c| c.split(';').next().unwrap_or_default().trim().to_string());
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_BYTES)
        {
            return Err(OciError::ManifestTooLarge {
                reference: r.to_string(),
                limit: MAX_MANIFEST_BYTES,
            });
        }
        let mut bytes = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| transport(r, e))?;
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > MAX_MANIFEST_BYTES {
                return Err(OciError::ManifestTooLarge {
                    reference: r.to_string(),
                    limit: MAX_MANIFEST_BYTES,
                });
            }
        }
        let digest = Digest::of(&bytes);
        if let Some(expected) = expect
            && expected != digest
        {
            return Err(OciError::DigestMismatch {
                expected,
                actual: digest,
            });
        }
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// The OCI 1.1 referrers of `digest` with `artifact_type`, through the
    /// referrers API: an image index, or `None` when the registry has no
    /// such API (it answers 404, as registries before OCI 1.1 do). Only
    /// the first page is read; the filter is applied again by the caller,
    /// since a registry may ignore it.
    pub async fn get_referrers(
        &self,
        r: &ImageRef,
        digest: &Digest,
        artifact_type: &str,
    ) -> Result<Option<crate::manifest::ImageIndex>, OciError> {
        let mut url = reqwest::Url::parse(&format!("{}/referrers/{digest}", self.base(r)))
            .map_err(|e| OciError::invalid(format!("{r}: referrers URL"), e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("artifactType", artifact_type);
        let url = url.to_string();
        let resp = self
            .send(
                r,
                Access::Pull,
                Method::GET,
                &url,
                &[(ACCEPT, crate::media::OCI_INDEX)],
                Body::Empty,
            )
            .await?;
        if matches!(
            resp.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED | StatusCode::BAD_REQUEST
        ) {
            return Ok(None);
        }
        let resp = self.expect_ok(r, "GET", &url, resp).await?;
        let bytes = read_capped(resp, MAX_MANIFEST_BYTES)
            .await
            .map_err(|e| match e {
                Capped::Transport(e) => transport(r, e),
                Capped::Over => OciError::ManifestTooLarge {
                    reference: format!("{r} (referrers of {digest})"),
                    limit: MAX_MANIFEST_BYTES,
                },
            })?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| OciError::invalid(format!("{r}: referrers of {digest}"), e.to_string()))
    }

    /// Downloads a blob into the store, verifying size and digest as it
    /// arrives. Does nothing if the store already has it.
    pub async fn fetch_blob(
        &self,
        r: &ImageRef,
        desc: &Descriptor,
        store: &ContentStore,
        progress: &dyn Progress,
    ) -> Result<(), OciError> {
        let id = desc.digest.short();
        if store.has_blob(&desc.digest, desc.size) {
            // A blob of the right size may still have rotted or been
            // edited; one that no longer matches its digest is fetched
            // again rather than failing every later read.
            match store.open_blob(&desc.digest) {
                Ok(_) => {
                    progress.finish(&id, "already present");
                    return Ok(());
                }
                Err(OciError::DigestMismatch { .. }) => {
                    warn!(digest = %desc.digest, "a stored blob does not match its digest; fetching it again");
                    let path = store.blob_path(&desc.digest);
                    std::fs::remove_file(&path).map_err(|e| OciError::io(&path, e))?;
                }
                Err(e) => return Err(e),
            }
        }
        let url = format!("{}/blobs/{}", self.base(r), desc.digest);
        let span = info_span!("fetch_blob", digest = %desc.digest, size = desc.size);
        async {
            let resp = self
                .send(r, Access::Pull, Method::GET, &url, &[], Body::Empty)
                .await?;
            let resp = self.expect_ok(r, "GET", &url, resp).await?;
            if let Some(len) = resp.content_length()
                && len != desc.size
            {
                return Err(OciError::SizeMismatch {
                    digest: desc.digest,
                    declared: desc.size,
                    reason: format!("the registry is sending {len}; refusing it"),
                });
            }
            progress.start(&id, desc.size);
            let mut writer = store.writer(desc)?;
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| transport(r, e))?;
                writer.write(&chunk)?;
                progress.advance(&id, chunk.len() as u64);
            }
            writer.commit()?;
            progress.finish(&id, "done");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Reads a small blob (a signature's payload) into memory, refusing
    /// one declared or served over `limit` bytes, and checking its size and
    /// digest. Nothing goes into the store.
    pub async fn get_blob(
        &self,
        r: &ImageRef,
        desc: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, OciError> {
        if desc.size > limit {
            return Err(OciError::LimitExceeded {
                what: format!("{r}: blob {} ({} bytes)", desc.digest, desc.size),
                limit: format!("the limit of {limit} bytes for it"),
            });
        }
        let url = format!("{}/blobs/{}", self.base(r), desc.digest);
        let resp = self
            .send(r, Access::Pull, Method::GET, &url, &[], Body::Empty)
            .await?;
        let resp = self.expect_ok(r, "GET", &url, resp).await?;
        let bytes = read_capped(resp, desc.size).await.map_err(|e| match e {
            Capped::Transport(e) => transport(r, e),
            Capped::Over => OciError::SizeMismatch {
                digest: desc.digest,
                declared: desc.size,
                reason: "the registry sent more; refusing it".into(),
            },
        })?;
        if bytes.len() as u64 != desc.size {
            return Err(OciError::SizeMismatch {
                digest: desc.digest,
                declared: desc.size,
                reason: format!("the registry sent {}", bytes.len()),
            });
        }
        let actual = Digest::of(&bytes);
        if actual != desc.digest {
            return Err(OciError::DigestMismatch {
                expected: desc.digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Whether the registry already has a blob.
    pub async fn blob_exists(&self, r: &ImageRef, desc: &Descriptor) -> Result<bool, OciError> {
        let url = format!("{}/blobs/{}", self.base(r), desc.digest);
        let resp = self
            .send(r, Access::Push, Method::HEAD, &url, &[], Body::Empty)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self.expect_ok(r, "HEAD", &url, resp).await.map(|_| false),
        }
    }

    /// Uploads a blob unless the registry has it. Returns `false` if it was
    /// skipped.
    pub async fn push_blob(
        &self,
        r: &ImageRef,
        desc: &Descriptor,
        data: bytes::Bytes,
        progress: &dyn Progress,
    ) -> Result<bool, OciError> {
        let id = desc.digest.short();
        if self.blob_exists(r, desc).await? {
            progress.finish(&id, "already in the registry");
            return Ok(false);
        }
        progress.start(&id, desc.size);
        let start = format!("{}/blobs/uploads/", self.base(r));
        let resp = self
            .send(r, Access::Push, Method::POST, &start, &[], Body::Empty)
            .await?;
        let resp = self.expect_ok(r, "POST", &start, resp).await?;
        let mut location = self.location(r, &resp)?;

        let chunked = self
            .options
            .chunk_size
            .filter(|c| data.len() > *c && *c > 0);
        if let Some(chunk) = chunked {
            let mut offset = 0usize;
            while offset < data.len() {
                let end = (offset + chunk).min(data.len());
                let range = format!("{offset}-{}", end - 1);
                let len = (end - offset).to_string();
                let resp = self
                    .send_once(
                        r,
                        Access::Push,
                        Method::PATCH,
                        &location,
                        &[
                            (CONTENT_TYPE, "application/octet-stream"),
                            (reqwest::header::CONTENT_RANGE, &range),
                            (CONTENT_LENGTH, &len),
                        ],
                        Body::Bytes(data.slice(offset..end)),
                    )
                    .await?;
                let resp = self.expect_ok(r, "PATCH", &location, resp).await?;
                location = self.location(r, &resp)?;
                progress.advance(&id, (end - offset) as u64);
                offset = end;
            }
            let url = with_digest(&location, &desc.digest);
            let resp = self
                .send(
                    r,
                    Access::Push,
                    Method::PUT,
                    &url,
                    &[(CONTENT_LENGTH, "0")],
                    Body::Empty,
                )
                .await?;
            self.expect_ok(r, "PUT", &url, resp).await?;
        } else {
            let url = with_digest(&location, &desc.digest);
            let len = data.len().to_string();
            let resp = self
                .send(
                    r,
                    Access::Push,
                    Method::PUT,
                    &url,
                    &[
                        (CONTENT_TYPE, "application/octet-stream"),
                        (CONTENT_LENGTH, &len),
                    ],
                    Body::Bytes(data.clone()),
                )
                .await?;
            self.expect_ok(r, "PUT", &url, resp).await?;
            progress.advance(&id, desc.size);
        }
        progress.finish(&id, "pushed");
        Ok(true)
    }

    /// Uploads a manifest under `reference` (a tag or digest).
    pub async fn put_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(), OciError> {
        let url = format!("{}/manifests/{reference}", self.base(r));
        let resp = self
            .send(
                r,
                Access::Push,
                Method::PUT,
                &url,
                &[(CONTENT_TYPE, media_type)],
                Body::Bytes(bytes::Bytes::copy_from_slice(bytes)),
            )
            .await?;
        self.expect_ok(r, "PUT", &url, resp).await.map(|_| ())
    }

    fn location(&self, r: &ImageRef, resp: &reqwest::Response) -> Result<String, OciError> {
        let loc = header_str(resp, LOCATION).ok_or_else(|| {
            OciError::invalid(
                format!("{}: upload", r.registry()),
                "the registry sent no Location header",
            )
        })?;
        if loc.starts_with("http://") || loc.starts_with("https://") {
            return Ok(loc);
        }
        let base = resp.url();
        base.join(&loc).map(|u| u.to_string()).map_err(|e| {
            OciError::invalid(
                format!("{}: upload", r.registry()),
                format!("bad Location {loc:?}: {e}"),
            )
        })
    }

    /// Maps a non-success answer to an error.
    async fn expect_ok(
        &self,
        r: &ImageRef,
        method: &str,
        url: &str,
        resp: reqwest::Response,
    ) -> Result<reqwest::Response, OciError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        match status {
            StatusCode::NOT_FOUND if url.contains("/manifests/") => Err(OciError::NotFound {
                reference: r.to_string(),
            }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let have_creds = self.auth.lookup(r.registry())?.is_some();
                Err(OciError::Unauthorized {
                    registry: r.registry().to_string(),
                    reason: if have_creds {
                        format!(
                            "access denied ({status}) with the stored credentials; check them with `wasmpod login {}`",
                            r.registry()
                        )
                    } else {
                        format!(
                            "authentication required ({status}); run `wasmpod login {}`",
                            r.registry()
                        )
                    },
                })
            }
            _ => Err(OciError::Registry {
                registry: r.registry().to_string(),
                method: method.to_string(),
                url: url.to_string(),
                status: status.as_u16(),
                body: body_snippet(resp).await,
            }),
        }
    }

    /// Sends with retries and authentication.
    async fn send(
        &self,
        r: &ImageRef,
        access: Access,
        method: Method,
        url: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
        body: Body,
    ) -> Result<reqwest::Response, OciError> {
        self.send_authenticated(r, access, method, url, headers, body, true)
            .await
    }

    /// Sends without retries (for chunk uploads), with authentication.
    async fn send_once(
        &self,
        r: &ImageRef,
        access: Access,
        method: Method,
        url: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
        body: Body,
    ) -> Result<reqwest::Response, OciError> {
        self.send_authenticated(r, access, method, url, headers, body, false)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_authenticated(
        &self,
        r: &ImageRef,
        access: Access,
        method: Method,
        url: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
        body: Body,
        retry: bool,
    ) -> Result<reqwest::Response, OciError> {
        let key = (r.registry().to_string(), r.repository().to_string(), access);
        let known = self.schemes.lock().ok().and_then(|m| m.get(&key).cloned());
        // Credentials and tokens go to the registry's own origin only: an
        // upload's Location may name another host (storage it hands off
        // to), and what it is given there is a URL, not our password.
        let ours = self.is_registry_origin(r, url);
        let auth_header = match &known {
            Some(scheme) if ours => Some(self.header_for(r, scheme)?),
            _ => None,
        };
        let resp = self
            .send_raw(
                r.registry(),
                method.clone(),
                url,
                headers,
                &body,
                auth_header.as_deref(),
                retry,
            )
            .await?;
        // A challenge is answered only from the registry itself: another
        // host (a redirect's target, an upload Location) could name a
        // token realm of its own choosing and be sent our password.
        if resp.status() != StatusCode::UNAUTHORIZED
            || !ours
            || !self.is_registry_origin(r, resp.url().as_str())
        {
            return Ok(resp);
        }
        // Answer the challenge once.
        let challenge = header_str(&resp, WWW_AUTHENTICATE).unwrap_or_default();
        let creds = self.auth.lookup(r.registry())?;
        let scheme = match parse_challenge(&challenge) {
            Some(("basic", _)) => {
                if creds.is_none() {
                    return Ok(resp);
                }
                Scheme::Basic
            }
            Some(("bearer", params)) => {
                let scope = format!(
                    "repository:{}:{}",
                    r.repository(),
                    if access == Access::Push {
                        "pull,push"
                    } else {
                        "pull"
                    }
                );
                let token = self
                    .fetch_token(r.registry(), &params, Some(&scope), creds.as_ref())
                    .await?;
                Scheme::Bearer { token }
            }
            _ => return Ok(resp),
        };
        let header = self.header_for(r, &scheme)?;
        if let Ok(mut m) = self.schemes.lock() {
            m.insert(key, scheme);
        }
        self.send_raw(
            r.registry(),
            method,
            url,
            headers,
            &body,
            Some(&header),
            retry,
        )
        .await
    }

    fn header_for(&self, r: &ImageRef, scheme: &Scheme) -> Result<String, OciError> {
        match scheme {
            Scheme::Bearer { token } => Ok(format!("Bearer {token}")),
            Scheme::Basic => {
                let creds =
                    self.auth
                        .lookup(r.registry())?
                        .ok_or_else(|| OciError::Unauthorized {
                            registry: r.registry().to_string(),
                            reason: format!(
                                "authentication required; run `wasmpod login {}`",
                                r.registry()
                            ),
                        })?;
                Ok(basic_header(&creds))
            }
        }
    }

    /// Gets a bearer token from the challenge's realm.
    async fn fetch_token(
        &self,
        registry: &str,
        params: &HashMap<String, String>,
        scope: Option<&str>,
        creds: Option<&Credentials>,
    ) -> Result<String, OciError> {
        let realm = params.get("realm").ok_or_else(|| OciError::Unauthorized {
            registry: registry.into(),
            reason: "the bearer challenge names no realm".into(),
        })?;
        let mut url = reqwest::Url::parse(realm).map_err(|e| OciError::Unauthorized {
            registry: registry.into(),
            reason: format!("bad token realm {realm:?}: {e}"),
        })?;
        check_realm(registry, self.plain_http(registry), &url, creds.is_some())?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = params.get("service") {
                q.append_pair("service", service);
            }
            if let Some(scope) = scope.or(params.get("scope").map(String::as_str)) {
                q.append_pair("scope", scope);
            }
        }
        let header = creds.map(basic_header);
        let resp = self
            .send_raw(
                registry,
                Method::GET,
                url.as_str(),
                &[],
                &Body::Empty,
                header.as_deref(),
                true,
            )
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(OciError::Unauthorized {
                registry: registry.into(),
                reason: if creds.is_some() {
                    format!("the token service refused the stored credentials ({status})")
                } else {
                    format!(
                        "the token service requires credentials ({status}); run `wasmpod login {registry}`"
                    )
                },
            });
        }
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let bytes = read_capped(resp, MAX_TOKEN_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                Capped::Transport(e) => OciError::Unreachable {
                    registry: registry.into(),
                    attempts: 1,
                    source: e.into(),
                },
                Capped::Over => OciError::LimitExceeded {
                    what: format!("{registry}: the token service's answer"),
                    limit: format!(
                        "the limit for a token response ({MAX_TOKEN_RESPONSE_BYTES} bytes)"
                    ),
                },
            })?;
        let t: Token = serde_json::from_slice(&bytes)
            .map_err(|e| OciError::invalid(format!("{registry}: token response"), e.to_string()))?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                OciError::invalid(format!("{registry}: token response"), "no token in it")
            })
    }

    /// One request, retried on connection errors and 5xx when `retry`.
    #[allow(clippy::too_many_arguments)]
    async fn send_raw(
        &self,
        registry: &str,
        method: Method,
        url: &str,
        headers: &[(reqwest::header::HeaderName, &str)],
        body: &Body,
        authorization: Option<&str>,
        retry: bool,
    ) -> Result<reqwest::Response, OciError> {
        let attempts = if retry {
            self.options.attempts.max(1)
        } else {
            1
        };
        let mut delay = self.options.backoff;
        let mut last_error: Box<dyn std::error::Error + Send + Sync> = "no attempt was made".into();
        for attempt in 1..=attempts {
            let mut req = self.http.request(method.clone(), url);
            for (name, value) in headers {
                req = req.header(name, *value);
            }
            if let Some(a) = authorization
                && let Ok(v) = HeaderValue::from_str(a)
            {
                req = req.header(AUTHORIZATION, v);
            }
            req = match body {
                Body::Empty => req,
                Body::Bytes(b) => req.body(b.clone()),
            };
            debug!(%method, url, attempt, "request");
            match req.send().await {
                Ok(resp) if resp.status().is_server_error() && attempt < attempts => {
                    last_error = format!("{} answered {}", method, resp.status()).into();
                    debug!(url, status = %resp.status(), attempt, "registry error; retrying");
                }
                Ok(resp) => return Ok(resp),
                Err(e)
                    if attempt < attempts
                        && (e.is_connect() || e.is_timeout() || e.is_request()) =>
                {
                    debug!(url, error = %e, attempt, "request failed; retrying");
                    last_error = e.into();
                }
                Err(e) => {
                    return Err(OciError::Unreachable {
                        registry: registry.into(),
                        attempts: attempt,
                        source: e.into(),
                    });
                }
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        Err(OciError::Unreachable {
            registry: registry.into(),
            attempts,
            source: last_error,
        })
    }
}

fn with_digest(location: &str, digest: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

fn basic_header(c: &Credentials) -> String {
    let raw = format!("{}:{}", c.username, c.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn header_str(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Why [`read_capped`] stopped.
enum Capped {
    Transport(reqwest::Error),
    Over,
}

/// The body of `resp`, or [`Capped::Over`] once it passes `limit` bytes
/// (read as it streams, so a huge answer is never held whole).
async fn read_capped(resp: reqwest::Response, limit: u64) -> Result<Vec<u8>, Capped> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Capped::Over);
    }
    let mut bytes = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(Capped::Transport)?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(Capped::Over);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The start of an error answer's body, on one line, for a message. Reads
/// at most [`MAX_ERROR_BODY_BYTES`] of it.
async fn body_snippet(resp: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = usize::try_from(MAX_ERROR_BODY_BYTES)
            .unwrap_or(usize::MAX)
            .saturating_sub(bytes.len());
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if bytes.len() as u64 >= MAX_ERROR_BODY_BYTES {
            break;
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() > 300 {
        format!("{}...", &one_line[..one_line.floor_char_boundary(300)])
    } else if one_line.is_empty() {
        "(empty body)".into()
    } else {
        one_line
    }
}

fn transport(r: &ImageRef, e: reqwest::Error) -> OciError {
    OciError::Unreachable {
        registry: r.registry().to_string(),
        attempts: 1,
        source: e.into(),
    }
}

/// Whether a redirect from `from` to `to` may be followed: never from
/// HTTPS to anything else (a registry's HTTPS answer must not send the
/// request, and its credentials or token, over plain HTTP), and only to
/// `http` or `https`.
fn redirect_allowed(from: Option<&reqwest::Url>, to: &reqwest::Url) -> bool {
    let to_ok = matches!(to.scheme(), "https" | "http");
    let downgrade = from.is_some_and(|f| f.scheme() == "https") && to.scheme() != "https";
    to_ok && !downgrade
}

/// Decides whether a token request may go to `realm`, the URL a bearer
/// challenge names. The realm must be `https` or `http`; and a realm in
/// plain HTTP gets the user's credentials (which the token request carries
/// as HTTP basic auth) only when the registry itself is spoken to in plain
/// HTTP (`registry_plain_http`: a loopback registry, or `--insecure`).
/// Otherwise the pull is refused rather than made anonymously: an HTTPS
/// registry pointing its clients' passwords at plain HTTP is either
/// misconfigured or hostile, and an anonymous attempt would only end in a
/// vaguer "authentication required".
fn check_realm(
    registry: &str,
    registry_plain_http: bool,
    realm: &reqwest::Url,
    with_credentials: bool,
) -> Result<(), OciError> {
    match realm.scheme() {
        "https" => Ok(()),
        "http" if registry_plain_http || !with_credentials => Ok(()),
        "http" => Err(OciError::Unauthorized {
            registry: registry.into(),
            reason: format!(
                "the registry's token realm {realm} is plain HTTP; refusing to send the stored credentials there (the registry is HTTPS; use --insecure only on a network you trust)"
            ),
        }),
        other => Err(OciError::Unauthorized {
            registry: registry.into(),
            reason: format!(
                "the registry's token realm {realm} is not an http or https URL (scheme {other}); refusing it"
            ),
        }),
    }
}

/// Parses `Bearer realm="...",service="...",scope="..."` (and `Basic
/// realm="..."`). The scheme comes back lowercased.
pub(crate) fn parse_challenge(header: &str) -> Option<(&'static str, HashMap<String, String>)> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => "bearer",
        "basic" => "basic",
        _ => return None,
    };
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let value: String = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => break,
                    c => v.push(c),
                }
            }
            v
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect()
        };
        params.insert(key.trim().to_ascii_lowercase(), value);
    }
    Some((scheme, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        )
        .expect("bearer");
        assert_eq!(s, "bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#).expect("basic");
        assert_eq!((s, p["realm"].as_str()), ("basic", "Registry Realm"));
        assert!(parse_challenge("Negotiate abc").is_none());
        assert!(parse_challenge("").is_none());
    }

    /// A blocking HTTP/1.1 server on loopback that answers each request
    /// (one per connection) with `answer(request line, headers)` and
    /// keeps every request it got.
    struct Recorder {
        port: u16,
        seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Recorder {
        fn start(answer: impl Fn(&str) -> String + Send + 'static) -> Self {
            use std::io::{BufRead as _, Read as _, Write as _};
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let log = seen.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming().take(20) {
                    let Ok(mut conn) = conn else { break };
                    let mut reader = std::io::BufReader::new(conn.try_clone().expect("clone"));
                    let mut head = String::new();
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        head.push_str(&line);
                    }
                    let mut body = vec![0; length];
                    let _ = reader.read_exact(&mut body);
                    let reply = answer(&head);
                    log.lock().expect("log").push(head);
                    let _ = conn.write_all(reply.as_bytes());
                }
            });
            Self { port, seen }
        }

        fn requests(&self) -> Vec<String> {
            self.seen.lock().expect("log").clone()
        }
    }

    fn reply(status: &str, headers: &str) -> String {
        format!("HTTP/1.1 {status}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n")
    }

    /// A registry that takes Basic credentials and hands the upload to
    /// another host by its Location: the other host gets no password, and
    /// its own challenge is not answered (its realm would get the
    /// password next).
    #[tokio::test]
    async fn credentials_stay_with_the_registry_origin() {
        let realm = Recorder::start(|_| reply("200 OK", ""));
        let realm_port = realm.port;
        let storage = Recorder::start(move |_| {
            reply(
                "401 Unauthorized",
                &format!(
                    "WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{realm_port}/token\",service=\"x\"\r\n"
                ),
            )
        });
        let storage_port = storage.port;
        let registry = Recorder::start(move |head| {
            if !head.to_ascii_lowercase().contains("authorization: basic") {
                reply(
                    "401 Unauthorized",
                    "WWW-Authenticate: Basic realm=\"r\"\r\n",
                )
            } else if head.starts_with("HEAD ") {
                reply("404 Not Found", "")
            } else {
                reply(
                    "202 Accepted",
                    &format!("Location: http://127.0.0.1:{storage_port}/upload/1\r\n"),
                )
            }
        });
        let dir = tempfile::tempdir().expect("tmp");
        let auth = AuthFiles::new(dir.path().join("auth.json"), vec![]);
        let host = format!("127.0.0.1:{}", registry.port);
        auth.store(
            &host,
            &Credentials {
                username: "u".into(),
                password: "secret".into(),
            },
        )
        .expect("store");
        let client = RegistryClient::new(auth, ClientOptions::default()).expect("client");
        let r = ImageRef::parse(&format!("{host}/app:v1")).expect("ref");
        let data = bytes::Bytes::from_static(b"blob");
        let desc = Descriptor {
            media_type: "application/wasm".into(),
            digest: Digest::of(&data),
            size: data.len() as u64,
            platform: None,
            annotations: None,
            artifact_type: None,
        };
        let pushed = client.push_blob(&r, &desc, data, &NoProgress).await;
        assert!(pushed.is_err(), "the storage host refused: {pushed:?}");
        assert!(
            registry
                .requests()
                .iter()
                .any(|h| h.to_ascii_lowercase().contains("authorization: basic")),
            "the registry itself got the credentials: {:?}",
            registry.requests()
        );
        let at_storage = storage.requests();
        assert!(!at_storage.is_empty(), "the upload went to its Location");
        for head in &at_storage {
            assert!(
                !head.to_ascii_lowercase().contains("authorization"),
                "{head}"
            );
        }
        assert!(realm.requests().is_empty(), "{:?}", realm.requests());
    }

    /// A stored blob of the right size that no longer matches its digest
    /// is fetched again, not kept failing every read.
    #[tokio::test]
    async fn a_rotten_blob_of_the_right_size_is_fetched_again() {
        let registry = Recorder::start(|_| {
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\naaaa".to_string()
        });
        let dir = tempfile::tempdir().expect("tmp");
        let store = ContentStore::open(dir.path().join("store")).expect("store");
        let desc = Descriptor {
            media_type: "application/wasm".into(),
            digest: Digest::of(b"aaaa"),
            size: 4,
            platform: None,
            annotations: None,
            artifact_type: None,
        };
        store.put_blob(b"aaaa").expect("put");
        let path = store.blob_path(&desc.digest);
        let rotten = dir.path().join("rotten");
        std::fs::write(&rotten, b"bbbb").expect("write");
        std::fs::rename(&rotten, &path).expect("rot");
        let auth = AuthFiles::new(dir.path().join("auth.json"), vec![]);
        let client = RegistryClient::new(auth, ClientOptions::default()).expect("client");
        let r = ImageRef::parse(&format!("127.0.0.1:{}/app:v1", registry.port)).expect("ref");
        client
            .fetch_blob(&r, &desc, &store, &NoProgress)
            .await
            .expect("fetched again");
        assert_eq!(store.read_blob(&desc.digest).expect("verified"), b"aaaa");
        assert_eq!(registry.requests().len(), 1, "{:?}", registry.requests());
        // A sound blob is not fetched again.
        client
            .fetch_blob(&r, &desc, &store, &NoProgress)
            .await
            .expect("present");
        assert_eq!(registry.requests().len(), 1);
    }

    /// A client with no credentials, and the same with `--insecure`.
    fn secure_and_insecure() -> (RegistryClient, RegistryClient) {
        let auth = AuthFiles::new("/nonexistent/auth.json".into(), vec![]);
        let secure = RegistryClient::new(auth.clone(), ClientOptions::default()).expect("client");
        let options = ClientOptions {
            insecure: true,
            ..ClientOptions::default()
        };
        (secure, RegistryClient::new(auth, options).expect("client"))
    }

    #[test]
    fn https_by_default_http_only_for_loopback_or_insecure() {
        let (secure, insecure) = secure_and_insecure();
        let r = |s: &str| ImageRef::parse(s).expect("ref");
        assert_eq!(
            secure.base(&r("ghcr.io/org/app")),
            "https://ghcr.io/v2/org/app"
        );
        assert_eq!(
            secure.base(&r("app")),
            "https://registry-1.docker.io/v2/library/app"
        );
        assert_eq!(
            secure.base(&r("10.0.0.5:5000/app")),
            "https://10.0.0.5:5000/v2/app"
        );
        assert_eq!(
            secure.base(&r("localhost:5000/app")),
            "http://localhost:5000/v2/app"
        );
        assert_eq!(
            secure.base(&r("127.0.0.1:5000/app")),
            "http://127.0.0.1:5000/v2/app"
        );
        assert_eq!(
            insecure.base(&r("ghcr.io/org/app")),
            "http://ghcr.io/v2/org/app"
        );
    }

    #[test]
    fn credentials_go_to_a_plain_http_token_realm_only_from_a_plain_http_registry() {
        let url = |s: &str| reqwest::Url::parse(s).expect("url");
        let http = url("http://auth.example/token");
        let https = url("https://auth.example/token");
        // An HTTPS registry, credentials stored: an http realm is refused,
        // naming the realm.
        let e = check_realm("ghcr.io", false, &http, true).expect_err("http realm");
        let text = e.to_string();
        assert!(
            text.contains("token realm http://auth.example/token is plain HTTP"),
            "{text}"
        );
        assert!(text.starts_with("ghcr.io: "), "{text}");
        assert!(matches!(e, OciError::Unauthorized { .. }));
        // The same realm is fine in HTTPS, or without credentials to leak,
        // or when the registry itself is plain HTTP (loopback, --insecure).
        check_realm("ghcr.io", false, &https, true).expect("https realm");
        check_realm("ghcr.io", false, &http, false).expect("anonymous");
        check_realm("localhost:5000", true, &http, true).expect("loopback");
        // Anything but http(s) is refused, credentials or not.
        for realm in ["file:///etc/passwd", "ftp://auth.example/t", "data:,x"] {
            for creds in [true, false] {
                let e = check_realm("ghcr.io", true, &url(realm), creds).expect_err(realm);
                assert!(e.to_string().contains("is not an http or https URL"), "{e}");
            }
        }
    }

    #[test]
    fn the_client_applies_the_realm_rule_with_its_own_transport() {
        let (secure, insecure) = secure_and_insecure();
        assert!(!secure.plain_http("ghcr.io"));
        assert!(secure.plain_http("127.0.0.1:5000"));
        assert!(insecure.plain_http("ghcr.io"));
    }

    #[test]
    fn redirects_never_leave_https() {
        let url = |s: &str| reqwest::Url::parse(s).expect("url");
        let https = url("https://reg.example/v2/a/blobs/x");
        assert!(redirect_allowed(
            Some(&https),
            &url("https://cdn.example/x")
        ));
        assert!(!redirect_allowed(
            Some(&https),
            &url("http://cdn.example/x")
        ));
        assert!(!redirect_allowed(
            Some(&https),
            &url("http://reg.example:443/x")
        ));
        let http = url("http://127.0.0.1:5000/v2/a/blobs/x");
        assert!(redirect_allowed(
            Some(&http),
            &url("http://127.0.0.1:5000/y")
        ));
        assert!(redirect_allowed(Some(&http), &url("https://cdn.example/y")));
        assert!(!redirect_allowed(Some(&http), &url("file:///etc/passwd")));
    }

    #[test]
    fn upload_urls_get_the_digest() {
        let d = Digest::of(b"x");
        assert_eq!(
            with_digest("http://r/u/1", &d),
            format!("http://r/u/1?digest={d}")
        );
        assert_eq!(
            with_digest("http://r/u/1?_state=abc", &d),
            format!("http://r/u/1?_state=abc&digest={d}")
        );
    }
}
