//! The hub's rules file (`--rules rules.toml`, docs/design.md#10-spaces-identity-and-access):
//! grants every authenticated user holds (a space readable by all, writable when the token's
//! claims match), the limits of each space, and a JSON Schema per collection that every pushed
//! state of that collection must satisfy.
//!
//! ```toml
//! [spaces.global]          # a space every authenticated user can reach
//! read = ["*"]             # collections anyone may read ("*": all of them)
//! write = []               # collections anyone may write
//! [spaces.global.write_if] # claims that unlock writing every collection of the space
//! role = "admin"
//! [limits]                 # applied to each space
//! max_states = 100000
//! max_bytes = 104857600
//! max_state_bytes = 1048576
//! [schemas]                # collection = a JSON Schema file, relative to this file
//! prefs = "prefs.schema.json"
//! ```

use crate::identity::{Access, Collections, Grants, Identity, SpaceId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A rules file that cannot be used: the hub does not start, and says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRules(pub String);

/// The limits of one space; `None`: no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceLimits {
    /// The most live states a space holds (tombstones are not counted: deleting frees room).
    pub max_states: Option<u64>,
    /// The most bytes of state data a space holds.
    pub max_bytes: Option<u64>,
    /// The largest state accepted, in bytes of canonical JSON data.
    pub max_state_bytes: Option<u64>,
}

/// A space every user reaches: what anyone may do there, and the claims that unlock writing.
#[derive(Debug, Clone, PartialEq, Default)]
struct SharedSpace {
    access: Access,
    /// Claim name to value: a token with all of them may write every collection.
    write_if: BTreeMap<String, serde_json::Value>,
}

/// The rules of a hub.
#[derive(Default)]
pub struct Rules {
    spaces: BTreeMap<SpaceId, SharedSpace>,
    limits: SpaceLimits,
    schemas: BTreeMap<String, jsonschema::Validator>,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rules")
            .field("spaces", &self.spaces)
            .field("limits", &self.limits)
            .field("schemas", &self.schemas.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    spaces: BTreeMap<String, SpaceEntry>,
    #[serde(default)]
    limits: SpaceLimits,
    #[serde(default)]
    schemas: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceEntry {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    write_if: BTreeMap<String, toml::Value>,
}

impl Rules {
    /// Reads a rules file; schema files are read relative to its folder.
    pub fn load(path: &Path) -> Result<Rules, BadRules> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BadRules(format!("cannot read the rules file {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Rules::parse(&text, |file| {
            let schema = base.join(file);
            std::fs::read_to_string(&schema).map_err(|e| format!("cannot read {}: {e}", schema.display()))
        })
        .map_err(|BadRules(why)| BadRules(format!("{}: {why}", path.display())))
    }

    /// Rules from the text of a rules file; `read_schema` gives the text of a schema file.
    pub fn parse(text: &str, read_schema: impl Fn(&str) -> Result<String, String>) -> Result<Rules, BadRules> {
        let file: RulesFile = toml::from_str(text).map_err(|e| BadRules(e.to_string()))?;
        let mut spaces = BTreeMap::new();
        for (name, entry) in file.spaces {
            let space = SpaceId::parse(&name).map_err(|why| BadRules(format!("[spaces.{name}]: {why}")))?;
            let write_if = entry
                .write_if
                .into_iter()
                .map(|(claim, value)| {
                    let value = serde_json::to_value(value)
                        .map_err(|e| BadRules(format!("[spaces.{name}.write_if] {claim}: {e}")))?;
                    Ok((claim, value))
                })
                .collect::<Result<_, BadRules>>()?;
            let access =
                Access { read: Collections::from_list(&entry.read), write: Collections::from_list(&entry.write) };
            spaces.insert(space, SharedSpace { access, write_if });
        }
        let mut schemas = BTreeMap::new();
        for (collection, file) in file.schemas {
            let text = read_schema(&file).map_err(|why| BadRules(format!("[schemas] {collection}: {why}")))?;
            let schema: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| BadRules(format!("[schemas] {collection}: {file} is not JSON: {e}")))?;
            let validator = jsonschema::validator_for(&schema)
                .map_err(|e| BadRules(format!("[schemas] {collection}: {file} is not a usable JSON Schema: {e}")))?;
            schemas.insert(collection, validator);
        }
        Ok(Rules { spaces, limits: file.limits, schemas })
    }

    /// What `identity` may reach: its token's grants, plus the spaces every user reaches (with
    /// write access to every collection of one whose `write_if` claims the token all holds).
    pub fn grants_for(&self, identity: &Identity) -> Grants {
        let mut grants = identity.grants.clone();
        for (space, shared) in &self.spaces {
            let mut access = shared.access.clone();
            let unlocked = !shared.write_if.is_empty()
                && shared.write_if.iter().all(|(claim, value)| identity.claims.get(claim) == Some(value));
            if unlocked {
                access.write = Collections::All;
            }
            grants.grant(space.clone(), &access);
        }
        grants
    }

    /// The limits every space is held to.
    pub fn limits(&self) -> SpaceLimits {
        self.limits
    }

    /// Checks the data of a state of `collection` against that collection's schema, if it has
    /// one; the first violation otherwise, with where it is in the data.
    pub fn check_data(&self, collection: &str, data: &serde_json::Value) -> Result<(), String> {
        let Some(validator) = self.schemas.get(collection) else { return Ok(()) };
        validator.validate(data).map_err(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                format!("it does not match the schema of {collection:?}: {e}")
            } else {
                format!("it does not match the schema of {collection:?} at {at}: {e}")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::JwtVerifier;
    use serde_json::json;

    const RULES: &str = r#"
        [spaces.global]
        read = ["*"]
        write = []
        [spaces.global.write_if]
        role = "admin"
        [spaces."board:public"]
        read = ["posts"]
        write = ["posts"]
        [limits]
        max_states = 100
        max_bytes = 10000
        [schemas]
        prefs = "prefs.schema.json"
    "#;

    const PREFS_SCHEMA: &str = r#"{
        "type": "object",
        "properties": {"theme": {"enum": ["light", "dark"]}, "size": {"type": "integer", "minimum": 8}},
        "required": ["theme"],
        "additionalProperties": false
    }"#;

    fn rules() -> Rules {
        Rules::parse(RULES, |file| match file {
            "prefs.schema.json" => Ok(PREFS_SCHEMA.to_owned()),
            other => Err(format!("no file {other}")),
        })
        .unwrap()
    }

    fn identity(claims: serde_json::Value) -> Identity {
        let secret = b"an HS256 secret of at least 32 bytes!!";
        let mut claims = claims;
        claims["exp"] = json!(4_000_000_000u64);
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        JwtVerifier::hs256(secret).unwrap().verify(&token).unwrap()
    }

    fn space(s: &str) -> SpaceId {
        SpaceId::parse(s).unwrap()
    }

    #[test]
    fn every_user_reaches_the_shared_spaces_and_claims_unlock_writing() {
        let rules = rules();
        let user = rules.grants_for(&identity(json!({"sub": "u1"})));
        let global = user.access(&space("global")).unwrap();
        assert!(global.read.contains("news") && !global.write.contains("news"));
        let board = user.access(&space("board:public")).unwrap();
        assert!(board.write.contains("posts") && !board.read.contains("drafts"));
        assert!(user.access(&space("user:u1")).unwrap().write.contains("anything"));
        let admin = rules.grants_for(&identity(json!({"sub": "boss", "role": "admin"})));
        assert!(admin.access(&space("global")).unwrap().write.contains("news"));
        let almost = rules.grants_for(&identity(json!({"sub": "x", "role": "Admin"})));
        assert!(!almost.access(&space("global")).unwrap().write.contains("news"), "claims match exactly");
        // A token's own grant for a shared space adds to the rules'.
        let editor = rules.grants_for(&identity(json!({"sub": "e", "spaces": {"global": {"write": ["news"]}}})));
        let global = editor.access(&space("global")).unwrap();
        assert!(global.write.contains("news") && !global.write.contains("other") && global.read.contains("x"));
    }

    #[test]
    fn limits_and_schemas() {
        let rules = rules();
        assert_eq!(
            rules.limits(),
            SpaceLimits { max_states: Some(100), max_bytes: Some(10000), max_state_bytes: None }
        );
        assert!(rules.check_data("prefs", &json!({"theme": "dark", "size": 12})).is_ok());
        let e = rules.check_data("prefs", &json!({"theme": "dark", "size": 4})).unwrap_err();
        assert!(e.contains("/size") && e.contains("prefs"), "{e}");
        assert!(rules.check_data("prefs", &json!({"size": 12})).is_err(), "theme is required");
        assert!(rules.check_data("prefs", &json!({"theme": "dark", "x": 1})).is_err());
        assert!(rules.check_data("other", &json!("anything")).is_ok(), "no schema, no check");
        assert!(Rules::default().check_data("prefs", &json!(1)).is_ok());
    }

    #[test]
    fn a_bad_rules_file_says_what_is_wrong() {
        let none = |_: &str| -> Result<String, String> { Err("no such file".into()) };
        let schema = |_: &str| -> Result<String, String> { Ok("{\"type\": 12}".into()) };
        let not_json = |_: &str| -> Result<String, String> { Ok("{".into()) };
        for (text, reader, expect) in [
            ("[spaces.\"bad space\"]\nread = [\"*\"]", &none as &dyn Fn(&str) -> Result<String, String>, "bad space"),
            ("[spaces.g]\nreed = [\"*\"]", &none, "reed"),
            ("[limits]\nmax_states = -1", &none, "max_states"),
            ("[limits]\nmax_rows = 3", &none, "max_rows"),
            ("[schemas]\nprefs = \"p.json\"", &none, "no such file"),
            ("[schemas]\nprefs = \"p.json\"", &not_json, "not JSON"),
            ("[schemas]\nprefs = \"p.json\"", &schema, "not a usable JSON Schema"),
            ("surprise = 1", &none, "surprise"),
            ("[spaces", &none, ""),
        ] {
            let e = Rules::parse(text, reader).unwrap_err();
            assert!(e.0.contains(expect), "{text:?}: {e}");
        }
    }

    #[test]
    fn load_reads_schemas_beside_the_rules_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.toml"), RULES).unwrap();
        std::fs::write(dir.path().join("prefs.schema.json"), PREFS_SCHEMA).unwrap();
        let rules = Rules::load(&dir.path().join("rules.toml")).unwrap();
        assert!(rules.check_data("prefs", &json!({"theme": "neon"})).is_err());
        let missing = Rules::load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(missing.0.contains("nope.toml"), "{missing}");
    }
}
