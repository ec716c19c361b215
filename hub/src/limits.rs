//! What one client can make the hub spend: body sizes, decoded bytes in flight, connections and
//! time. Every bound holds whether or not the client authenticated (docs/adr/0015).

use std::time::Duration;

/// Bounds on requests and connections. [`Limits::default`] suits a hub on a small machine;
/// every field can be set on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest push body, compressed or decoded, and largest pull answer before compression
    /// (advertised as `max_body_bytes`: clients cut their pages to it). Default 4 MiB: room for
    /// a state of the largest default size (1 MiB of data) with its field history.
    pub max_body_bytes: usize,
    /// Largest pull request, compressed or decoded. A pull request carries a cursor and a list
    /// of collections, never states. Default 64 KiB.
    pub max_pull_request_bytes: usize,
    /// Decoded bodies being parsed and applied at once, in bytes: a request waits for its share
    /// (its decoded size, or `max_body_bytes` while a compressed body's size is unknown).
    /// Default 4 MiB: one body of the largest size at a time, or hundreds of usual ones. Parsed
    /// JSON takes several times its text (up to ~30 times for an array of small numbers), so
    /// this is what bounds the memory that decoding pushes can take at once.
    pub decode_budget_bytes: usize,
    /// Open connections at once; further clients wait in the listen queue until one closes.
    /// Default 1024.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, from the moment its connection
    /// opened or its previous answer went out. Default 10 s.
    pub header_timeout: Duration,
    /// How long a connection may go without a byte either way while the hub waits on the client
    /// (reading its body, or writing an answer it does not read). Default 30 s.
    pub idle_timeout: Duration,
    /// How long one request may take in all, body included: a client trickling its body one
    /// byte at a time gets `408 TIMEOUT`. Default 60 s.
    pub request_timeout: Duration,
}

/// Largest page the hub serves when a client asks for more (or for no limit), and the most
/// states a push may carry.
pub const DEFAULT_MAX_BATCH: usize = 1_000;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 << 20,
            max_pull_request_bytes: 64 << 10,
            decode_budget_bytes: 4 << 20,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// The limits with every value brought into its valid range: sizes of at least 1 KiB (and
    /// `max_body_bytes` at most the core's `MAX_MESSAGE_BYTES`), a decode budget that fits at
    /// least one body, at least one connection, timeouts of at least 1 ms.
    pub fn normalized(mut self) -> Limits {
        self.max_body_bytes = self.max_body_bytes.clamp(1024, statesync::MAX_MESSAGE_BYTES);
        self.max_pull_request_bytes = self.max_pull_request_bytes.clamp(1024, self.max_body_bytes);
        self.decode_budget_bytes = self.decode_budget_bytes.max(self.max_body_bytes);
        self.max_connections = self.max_connections.max(1);
        for t in [&mut self.header_timeout, &mut self.idle_timeout, &mut self.request_timeout] {
            *t = (*t).max(Duration::from_millis(1));
        }
        self
    }
}
