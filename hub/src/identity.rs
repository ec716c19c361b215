//! Who is calling, and what they may reach (docs/design.md#10-spaces-identity-and-access): a
//! bearer JWT verified with an HS256 secret or a PEM public key (EdDSA, ES256, RS256), its
//! `exp`, `nbf`, `iss` and `aud` checked with 60 seconds of leeway, and the grants its claims
//! carry: the subject owns the space `user:<sub>`; a `spaces` claim grants more, per collection.
//!
//! Verification is the `jsonwebtoken` crate's; this module only says which algorithms a key
//! allows, which claims are required, and what a token's claims grant.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How far a token's `exp` and `nbf` may be off the hub's clock, in seconds.
pub const LEEWAY_SECONDS: u64 = 60;

pub use statesync::http_protocol::MAX_SPACE_BYTES;

/// Why a token was refused: the hub answers 401 `UNAUTHORIZED` with this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unauthorized(pub String);

/// A key or setting that cannot verify tokens (a malformed PEM, an empty secret): the hub does
/// not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadKey(pub String);

/// A space id: 1 to 128 bytes of `A–Z a–z 0–9 . _ : @ -`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpaceId(String);

impl SpaceId {
    /// The space id `text`, or why it is not one.
    pub fn parse(text: &str) -> Result<SpaceId, String> {
        statesync::http_protocol::validate_space(text).map_err(|e| e.message())?;
        Ok(SpaceId(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of collections: all of them (`"*"`), or these.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Collections {
    /// Every collection.
    All,
    /// Only these (none when empty).
    #[default]
    None,
    /// These collections.
    Only(BTreeSet<String>),
}

impl Collections {
    /// The set a grant lists: `"*"` anywhere in it means every collection.
    pub fn from_list<S: AsRef<str>>(list: &[S]) -> Collections {
        if list.iter().any(|c| c.as_ref() == "*") {
            Collections::All
        } else if list.is_empty() {
            Collections::None
        } else {
            Collections::Only(list.iter().map(|c| c.as_ref().to_owned()).collect())
        }
    }

    /// True when `collection` is in the set.
    pub fn contains(&self, collection: &str) -> bool {
        match self {
            Collections::All => true,
            Collections::None => false,
            Collections::Only(set) => set.contains(collection),
        }
    }

    /// Adds every collection of `other`.
    pub fn extend(&mut self, other: &Collections) {
        match (&mut *self, other) {
            (Collections::All, _) | (_, Collections::None) => {}
            (_, Collections::All) => *self = Collections::All,
            (Collections::None, Collections::Only(more)) => *self = Collections::Only(more.clone()),
            (Collections::Only(set), Collections::Only(more)) => set.extend(more.iter().cloned()),
        }
    }
}

/// What a caller may do in one space.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Access {
    /// The collections the caller may pull.
    pub read: Collections,
    /// The collections the caller may push to.
    pub write: Collections,
}

impl Access {
    /// Every collection, both ways: what a subject has in its own space.
    pub fn full() -> Access {
        Access { read: Collections::All, write: Collections::All }
    }

    /// Adds what `other` allows.
    pub fn extend(&mut self, other: &Access) {
        self.read.extend(&other.read);
        self.write.extend(&other.write);
    }
}

/// The spaces a caller may reach, and what it may do in each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants(BTreeMap<SpaceId, Access>);

impl Grants {
    /// What the caller may do in `space`; `None`: nothing (the hub answers 403 `FORBIDDEN`).
    pub fn access(&self, space: &SpaceId) -> Option<&Access> {
        self.0.get(space)
    }

    /// Adds `access` to `space` (on top of what was granted there already).
    pub fn grant(&mut self, space: SpaceId, access: &Access) {
        self.0.entry(space).or_default().extend(access);
    }

    /// The spaces granted, in order.
    pub fn spaces(&self) -> impl Iterator<Item = &SpaceId> {
        self.0.keys()
    }
}

/// A verified caller: its subject, every claim of its token (rules match claims such as
/// `role`), and what the token grants.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The token's `sub`.
    pub subject: String,
    /// Every claim of the token, as JSON.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// The space `user:<sub>` with full access, and what the `spaces` claim grants.
    pub grants: Grants,
}

/// One space of the `spaces` claim: `{"read": [...], "write": [...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceClaim {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
}

/// Verifies bearer JWTs.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key: a shared secret in a log is a leak.
        f.debug_struct("JwtVerifier").field("algorithms", &self.validation.algorithms).finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Tokens signed with HS256 and this shared secret (at least 32 bytes: a shorter one can be
    /// guessed offline from any token).
    pub fn hs256(secret: &[u8]) -> Result<JwtVerifier, BadKey> {
        if secret.len() < 32 {
            return Err(BadKey(format!("the HS256 secret is {} bytes: use at least 32", secret.len())));
        }
        Ok(JwtVerifier::with(DecodingKey::from_secret(secret), Algorithm::HS256))
    }

    /// Tokens signed with the private key of this PEM public key: Ed25519 (EdDSA), P-256
    /// (ES256) or RSA (RS256), told by the key itself.
    pub fn public_key_pem(pem: &[u8]) -> Result<JwtVerifier, BadKey> {
        if let Ok(key) = DecodingKey::from_ed_pem(pem) {
            return Ok(JwtVerifier::with(key, Algorithm::EdDSA));
        }
        if let Ok(key) = DecodingKey::from_ec_pem(pem) {
            return Ok(JwtVerifier::with(key, Algorithm::ES256));
        }
        match DecodingKey::from_rsa_pem(pem) {
            Ok(key) => Ok(JwtVerifier::with(key, Algorithm::RS256)),
            Err(e) => Err(BadKey(format!("not an Ed25519, P-256 or RSA public key in PEM: {e}"))),
        }
    }

    fn with(key: DecodingKey, algorithm: Algorithm) -> JwtVerifier {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        // No audience is checked until `audience` names the hub's: a token's `aud` is then
        // ignored, as a hub without one has nothing to compare it with.
        validation.validate_aud = false;
        JwtVerifier { key, validation }
    }

    /// Accepts only tokens whose `iss` is one of `issuers`.
    /// An empty list checks nothing (any issuer, or none).
    pub fn issuer<S: ToString>(mut self, issuers: &[S]) -> JwtVerifier {
        if issuers.is_empty() {
            return self;
        }
        self.validation.set_issuer(issuers);
        self.validation.required_spec_claims.insert("iss".to_owned());
        self
    }

    /// Accepts only tokens whose `aud` holds one of `audiences`.
    /// An empty list checks nothing.
    pub fn audience<S: ToString>(mut self, audiences: &[S]) -> JwtVerifier {
        if audiences.is_empty() {
            return self;
        }
        self.validation.set_audience(audiences);
        self.validation.validate_aud = true;
        self.validation.required_spec_claims.insert("aud".to_owned());
        self
    }

    /// The caller a token names, once its signature and claims are checked; why not otherwise.
    pub fn verify(&self, token: &str) -> Result<Identity, Unauthorized> {
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token.trim(),
            &self.key,
            &self.validation,
        )
        .map_err(|e| Unauthorized(refusal(e.kind())))?;
        identity(data.claims)
    }
}

/// What a token refusal says: enough for the caller to fix its token, nothing about the key.
fn refusal(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "the token has expired".into(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
        ErrorKind::InvalidIssuer => "the token's issuer (iss) is not accepted".into(),
        ErrorKind::InvalidAudience => "the token's audience (aud) is not accepted".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no {claim} claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the token's {claim} claim is malformed"),
        ErrorKind::InvalidAlgorithm => "the token is signed with an algorithm this hub does not accept".into(),
        ErrorKind::InvalidSignature => "the token's signature is not valid".into(),
        _ => "the bearer token is not a valid JWT".into(),
    }
}

/// The identity of verified claims: `sub` must be a string that makes a space id; `spaces`, if
/// present, an object of space ids to `{read, write}` lists.
fn identity(claims: serde_json::Map<String, serde_json::Value>) -> Result<Identity, Unauthorized> {
    let subject = match claims.get("sub") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(Unauthorized("the token's sub claim is not a non-empty string".into())),
    };
    let own = SpaceId::parse(&format!("user:{subject}"))
        .map_err(|why| Unauthorized(format!("the token's subject cannot name its space user:<sub>: {why}")))?;
    let mut grants = Grants::default();
    grants.grant(own, &Access::full());
    if let Some(spaces) = claims.get("spaces") {
        let spaces: BTreeMap<String, SpaceClaim> = serde_json::from_value(spaces.clone())
            .map_err(|e| Unauthorized(format!("the token's spaces claim is malformed: {e}")))?;
        for (name, claim) in spaces {
            let space = SpaceId::parse(&name)
                .map_err(|why| Unauthorized(format!("the token's spaces claim names {name:?}: {why}")))?;
            let access =
                Access { read: Collections::from_list(&claim.read), write: Collections::from_list(&claim.write) };
            grants.grant(space, &access);
        }
    }
    Ok(Identity { subject, claims, grants })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;
    use std::time::{SystemTime, UNIX_EPOCH};

    const SECRET: &[u8] = b"an HS256 secret of at least 32 bytes!!";

    fn now() -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
    }

    fn hs256(claims: serde_json::Value) -> String {
        encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(SECRET)).unwrap()
    }

    fn key(name: &str) -> Vec<u8> {
        std::fs::read(format!("{}/tests/keys/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    fn space(s: &str) -> SpaceId {
        SpaceId::parse(s).unwrap()
    }

    #[test]
    fn a_valid_token_owns_its_user_space_and_what_its_spaces_claim_grants() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let token = hs256(json!({
            "sub": "42", "exp": now() + 600, "role": "admin",
            "spaces": {"team:7": {"read": ["*"], "write": ["notes"]}, "global": {"read": ["news"]}}
        }));
        let id = verifier.verify(&token).unwrap();
        assert_eq!(id.subject, "42");
        assert_eq!(id.claims["role"], "admin");
        assert_eq!(id.grants.access(&space("user:42")), Some(&Access::full()));
        let team = id.grants.access(&space("team:7")).unwrap();
        assert!(team.read.contains("anything") && team.write.contains("notes") && !team.write.contains("prefs"));
        let global = id.grants.access(&space("global")).unwrap();
        assert!(global.read.contains("news") && !global.read.contains("prefs") && !global.write.contains("news"));
        assert_eq!(id.grants.access(&space("user:43")), None, "another user's space is not granted");
        assert_eq!(id.grants.spaces().count(), 3);
    }

    #[test]
    fn expiry_and_not_before_allow_a_minute_of_clock_skew() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        assert!(verifier.verify(&hs256(json!({"sub": "a", "exp": now() - 30}))).is_ok(), "within the leeway");
        let expired = verifier.verify(&hs256(json!({"sub": "a", "exp": now() - 120}))).unwrap_err();
        assert_eq!(expired.0, "the token has expired");
        assert!(verifier.verify(&hs256(json!({"sub": "a", "exp": now() + 600, "nbf": now() + 30}))).is_ok());
        let early = verifier.verify(&hs256(json!({"sub": "a", "exp": now() + 600, "nbf": now() + 300}))).unwrap_err();
        assert_eq!(early.0, "the token is not valid yet (nbf)");
        let no_exp = verifier.verify(&hs256(json!({"sub": "a"}))).unwrap_err();
        assert_eq!(no_exp.0, "the token has no exp claim");
    }

    #[test]
    fn issuer_and_audience_are_checked_when_configured() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap().issuer(&["https://auth.example"]).audience(&["hub"]);
        let good = json!({"sub": "a", "exp": now() + 60, "iss": "https://auth.example", "aud": ["hub", "other"]});
        assert!(verifier.verify(&hs256(good)).is_ok());
        let wrong_iss = json!({"sub": "a", "exp": now() + 60, "iss": "https://evil.example", "aud": "hub"});
        assert_eq!(verifier.verify(&hs256(wrong_iss)).unwrap_err().0, "the token's issuer (iss) is not accepted");
        let wrong_aud = json!({"sub": "a", "exp": now() + 60, "iss": "https://auth.example", "aud": "else"});
        assert_eq!(verifier.verify(&hs256(wrong_aud)).unwrap_err().0, "the token's audience (aud) is not accepted");
        let no_aud = json!({"sub": "a", "exp": now() + 60, "iss": "https://auth.example"});
        assert_eq!(verifier.verify(&hs256(no_aud)).unwrap_err().0, "the token has no aud claim");
        // Empty lists (no --jwt-issuer, no --jwt-audience) check nothing.
        let open = JwtVerifier::hs256(SECRET).unwrap().issuer::<&str>(&[]).audience::<&str>(&[]);
        assert!(open.verify(&hs256(json!({"sub": "a", "exp": now() + 60}))).is_ok());
    }

    #[test]
    fn forged_malformed_and_wrongly_signed_tokens_are_refused() {
        let verifier = JwtVerifier::hs256(SECRET).unwrap();
        let other = encode(
            &Header::new(Algorithm::HS256),
            &json!({"sub": "a", "exp": now() + 60}),
            &EncodingKey::from_secret(b"another secret of at least 32 bytes...."),
        )
        .unwrap();
        assert_eq!(verifier.verify(&other).unwrap_err().0, "the token's signature is not valid");
        for bad in ["", "not a token", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."] {
            assert!(verifier.verify(bad).is_err(), "{bad:?}");
        }
        // A token signed with a key pair cannot pass as HS256 (the algorithm confusion attack).
        let ed = encode(
            &Header::new(Algorithm::EdDSA),
            &json!({"sub": "a", "exp": now() + 60}),
            &EncodingKey::from_ed_pem(&key("ed25519.pem")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            verifier.verify(&ed).unwrap_err().0,
            "the token is signed with an algorithm this hub does not accept"
        );
        // Claims that cannot grant anything.
        for claims in [
            json!({"sub": 7, "exp": now() + 60}),
            json!({"sub": "", "exp": now() + 60}),
            json!({"sub": "has a space", "exp": now() + 60}),
            json!({"sub": "a", "exp": now() + 60, "spaces": ["x"]}),
            json!({"sub": "a", "exp": now() + 60, "spaces": {"bad space": {"read": ["*"]}}}),
            json!({"sub": "a", "exp": now() + 60, "spaces": {"ok": {"read": ["*"], "admin": true}}}),
        ] {
            assert!(verifier.verify(&hs256(claims.clone())).is_err(), "{claims}");
        }
    }

    #[test]
    fn each_public_key_type_verifies_its_own_tokens_only() {
        let claims = json!({"sub": "k", "exp": now() + 60});
        let cases = [
            ("ed25519", Algorithm::EdDSA, EncodingKey::from_ed_pem(&key("ed25519.pem")).unwrap()),
            ("p256", Algorithm::ES256, EncodingKey::from_ec_pem(&key("p256.pem")).unwrap()),
            ("rsa2048", Algorithm::RS256, EncodingKey::from_rsa_pem(&key("rsa2048.pem")).unwrap()),
        ];
        let tokens: Vec<String> =
            cases.iter().map(|(_, alg, signing)| encode(&Header::new(*alg), &claims, signing).unwrap()).collect();
        for (i, (name, _, _)) in cases.iter().enumerate() {
            let verifier = JwtVerifier::public_key_pem(&key(&format!("{name}.pub.pem"))).unwrap();
            for (j, token) in tokens.iter().enumerate() {
                assert_eq!(verifier.verify(token).is_ok(), i == j, "{name} key, token {j}");
            }
        }
        assert!(JwtVerifier::public_key_pem(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").is_err());
        assert!(JwtVerifier::public_key_pem(b"not a pem").is_err());
        assert!(JwtVerifier::hs256(b"short").is_err());
        assert!(!format!("{:?}", JwtVerifier::hs256(SECRET).unwrap()).contains("secret of"), "Debug hides the key");
    }

    #[test]
    fn space_ids_and_collection_sets() {
        for ok in ["default", "user:42", "team_7.notes", "a@b-c", &"x".repeat(128)] {
            assert!(SpaceId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "ü", "a/b", &"x".repeat(129)] {
            assert!(SpaceId::parse(bad).is_err(), "{bad}");
        }
        let mut set = Collections::from_list(&["a"]);
        set.extend(&Collections::from_list(&["b"]));
        assert!(set.contains("a") && set.contains("b") && !set.contains("c"));
        set.extend(&Collections::from_list(&["*"]));
        assert!(set.contains("c"));
        assert_eq!(Collections::from_list::<&str>(&[]), Collections::None);
    }
}
