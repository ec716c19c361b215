//! [`HttpTransport`]: a blocking client of the HTTP sync protocol (`docs/protocol.md`), such as
//! the one `statesync-hub` serves. Built with the `http` cargo feature; not for the browser,
//! which drives a [`crate::SyncRound`] with `fetch` instead. Both read the peer's answers with
//! [`crate::sync::http_protocol`], so that they fail alike.

use crate::model::change_set::{ChangeSet, SyncContext};
use crate::model::error::{Result, SyncError};
use crate::replica::outcome::ReconciliationResult;
use crate::sync::http_protocol::{
    capabilities_answer, endpoint_path, pull_request_body, push_answer, reply_encoding, status_error, validate_space,
};
use crate::sync::transport::{SyncCapabilities, SyncTransport};
use crate::{decode_page, encode, Encoding, MAX_MESSAGE_BYTES};
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::{HeaderName, HeaderValue, Response, Uri};

/// How long one request may take, connection and body included, unless set otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Request bodies at least this large are zstd-compressed when the peer accepts it.
#[cfg(feature = "zstd")]
const COMPRESS_FROM_BYTES: usize = 1_024;

/// A sync peer reached over HTTP.
///
/// ```no_run
/// use statesync::{HttpTransport, ManagerConfig, SyncContext, SyncManager};
///
/// let phone = SyncManager::open(ManagerConfig::memory().node_id("phone"))?;
/// let hub = HttpTransport::new("https://sync.example.com")?.space("user:42")?.token("eyJhbGciOi...");
/// phone.sync_via(&hub, &SyncContext::all())?;
/// # Ok::<(), statesync::SyncError>(())
/// ```
///
/// Every request carries the configured headers (auth passthrough). The preferred
/// [`HttpTransport::encoding`] and zstd compression are used only when the peer advertises
/// them in its capabilities, which every round asks for first; JSON is the fallback.
///
/// Network failures, timeouts and 5xx/429 answers are [`SyncError::Transport`] (retry later:
/// every request of the protocol is safe to repeat); a typed error body of any other status
/// becomes the error it names ([`SyncError::from_code`]).
pub struct HttpTransport {
    base: String,
    /// The hub space synced with; `None`: the Part I routes (a hub's space `default`).
    space: Option<String>,
    agent: ureq::Agent,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The first invalid header given to [`HttpTransport::header`], reported by every request.
    invalid_header: Option<String>,
    timeout: Duration,
    encoding: Encoding,
    compress: bool,
    /// What the peer advertised when last asked.
    peer: Mutex<Option<SyncCapabilities>>,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are left out: they are usually credentials.
        f.debug_struct("HttpTransport")
            .field("base", &self.base)
            .field("space", &self.space)
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .field("encoding", &self.encoding)
            .field("compress", &self.compress)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A transport to the peer serving the protocol at `base_url` (`http://` or `https://`,
    /// with an optional path prefix under which `/v1/...` is served). An URL that is not
    /// absolute HTTP(S), or has a query or fragment, is `INVALID_INPUT`.
    pub fn new(base_url: &str) -> Result<HttpTransport> {
        let base = base_url.trim().trim_end_matches('/');
        let invalid = |why: &str| SyncError::InvalidInput(format!("not a sync peer URL ({why}): {base_url:?}"));
        let uri: Uri = base.parse().map_err(|_| invalid("malformed"))?;
        match uri.scheme_str() {
            Some("http") | Some("https") => {}
            _ => return Err(invalid("the scheme must be http or https")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        if uri.query().is_some() || base.contains('#') {
            return Err(invalid("a query or fragment is not allowed"));
        }
        Ok(HttpTransport {
            base: base.to_owned(),
            space: None,
            agent: agent(DEFAULT_TIMEOUT),
            headers: Vec::new(),
            invalid_header: None,
            timeout: DEFAULT_TIMEOUT,
            encoding: Encoding::Json,
            compress: cfg!(feature = "zstd"),
            peer: Mutex::new(None),
        })
    }

    /// Syncs with the hub space `space` (`/v1/spaces/{space}/...`, docs/design.md §10) instead
    /// of the hub's `default` space. An invalid space id is `INVALID_INPUT`.
    pub fn space(mut self, space: &str) -> Result<HttpTransport> {
        validate_space(space)?;
        self.space = Some(space.to_owned());
        Ok(self)
    }

    /// Sends `Authorization: Bearer <token>` on every request: the hub's shared token or a JWT.
    pub fn token(self, token: &str) -> HttpTransport {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// The hub space synced with, if one was set.
    pub fn space_id(&self) -> Option<&str> {
        self.space.as_deref()
    }

    /// Sends this header on every request (`Authorization`, an API key, a tenant id...). Set
    /// twice, the last value wins. An invalid name or value makes every request fail with
    /// `INVALID_INPUT`.
    pub fn header(mut self, name: &str, value: &str) -> HttpTransport {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(true);
                self.headers.retain(|(n, _)| *n != name);
                self.headers.push((name, value));
            }
            _ => {
                self.invalid_header.get_or_insert_with(|| format!("invalid HTTP header {name:?}"));
            }
        }
        self
    }

    /// Sets how long one request may take in all (connecting, sending, receiving the body).
    /// Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> HttpTransport {
        self.timeout = timeout;
        self.agent = agent(timeout);
        self
    }

    /// Sets the preferred encoding of change sets. Binary is used only with a peer that
    /// advertises it; JSON otherwise. Default JSON.
    pub fn encoding(mut self, encoding: Encoding) -> HttpTransport {
        self.encoding = encoding;
        self
    }

    /// Turns zstd compression of bodies on or off (on by default when this build has the
    /// `zstd` feature; without it, bodies are never compressed). Used only with a peer that
    /// advertises it.
    pub fn compress(mut self, on: bool) -> HttpTransport {
        self.compress = on;
        self
    }

    /// The peer's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The URL of one of the protocol's endpoints (`capabilities`, `pull`, `push`).
    fn url(&self, endpoint: &str) -> String {
        format!("{}{}", self.base, endpoint_path(self.space.as_deref(), endpoint))
    }

    /// The peer's capabilities: those of the current round, or asked for now.
    fn peer(&self) -> Result<SyncCapabilities> {
        let known = self.peer.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match known {
            Some(c) => Ok(c),
            None => self.capabilities(),
        }
    }

    /// The encoding and compression to use with this peer.
    fn negotiate(&self) -> Result<(Encoding, bool)> {
        let peer = self.peer()?;
        let encoding = match self.encoding {
            Encoding::Binary if peer.binary => Encoding::Binary,
            _ => Encoding::Json,
        };
        Ok((encoding, self.compress && peer.zstd && cfg!(feature = "zstd")))
    }

    fn check_headers(&self) -> Result<()> {
        match &self.invalid_header {
            Some(e) => Err(SyncError::InvalidInput(e.clone())),
            None => Ok(()),
        }
    }

    fn with_headers<B>(&self, mut request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request
    }

    /// Reads a response: the body of a 2xx (decompressed), or the error it stands for.
    fn read(&self, url: &str, response: std::result::Result<Response<ureq::Body>, ureq::Error>) -> Result<Reply> {
        let mut response = response.map_err(|e| transport_error(url, e))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (content_type, content_encoding, retry_after) =
            (header("content-type"), header("content-encoding"), header("retry-after"));
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_MESSAGE_BYTES as u64)
            .read_to_vec()
            .map_err(|e| transport_error(url, e))?;
        if !(200..300).contains(&status) {
            return Err(status_error(url, status, &body, retry_after.as_deref()));
        }
        let body = match content_encoding.as_deref().map(str::trim) {
            None | Some("") | Some("identity") => body,
            #[cfg(feature = "zstd")]
            Some(c) if c.eq_ignore_ascii_case("zstd") => crate::decompress(&body)?,
            Some(other) => {
                return Err(SyncError::UnsupportedFormat(format!("{url} answered in Content-Encoding {other:?}")))
            }
        };
        Ok(Reply { content_type, body })
    }

    fn post(&self, endpoint: &str, content_type: &str, accept: &str, compressed: bool, body: Vec<u8>) -> Result<Reply> {
        self.check_headers()?;
        let url = self.url(endpoint);
        let mut request = self
            .agent
            .post(&url)
            .header("content-type", content_type)
            .header("accept", accept)
            .header("accept-encoding", if compressed { "zstd" } else { "identity" });
        request = self.with_headers(request);
        #[cfg(feature = "zstd")]
        let body = if compressed && body.len() >= COMPRESS_FROM_BYTES {
            request = request.header("content-encoding", "zstd");
            crate::compress(&body)
        } else {
            body
        };
        self.read(&url, request.send(body))
    }
}

/// A successful answer.
struct Reply {
    content_type: Option<String>,
    body: Vec<u8>,
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("statesync/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn transport_error(url: &str, e: ureq::Error) -> SyncError {
    SyncError::Transport(format!("{url}: {e}"))
}

impl SyncTransport for HttpTransport {
    fn capabilities(&self) -> Result<SyncCapabilities> {
        self.check_headers()?;
        let url = self.url("capabilities");
        let request = self.with_headers(self.agent.get(&url).header("accept", "application/json"));
        let reply = self.read(&url, request.call())?;
        let capabilities = capabilities_answer(&url, &reply.body)?;
        *self.peer.lock().unwrap_or_else(|e| e.into_inner()) = Some(capabilities.clone());
        Ok(capabilities)
    }

    fn pull(&self, cursor: Option<&str>, context: &SyncContext) -> Result<ChangeSet> {
        let (encoding, compressed) = self.negotiate()?;
        let body = pull_request_body(cursor, context).into_bytes();
        let reply = self.post("pull", "application/json", encoding.content_type(), compressed, body)?;
        let url = self.url("pull");
        decode_page(&reply.body, reply_encoding(&url, reply.content_type.as_deref())?)
    }

    fn push(&self, changes: &ChangeSet) -> Result<ReconciliationResult> {
        let (encoding, compressed) = self.negotiate()?;
        let body = encode(changes, encoding);
        let reply = self.post("push", encoding.content_type(), "application/json", compressed, body)?;
        push_answer(&self.url("push"), &reply.body)
    }
}
