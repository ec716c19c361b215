//! The server side of spaces, identity and access (docs/design.md §10, docs/protocol.md
//! "Spaces") through HTTP, on both stores: clients sync with `HttpTransport::space(...).token(...)`
//! against an in-process hub verifying HS256 JWTs, and raw requests check what a client library
//! would never send (other users' spaces, bad tokens, forged cursors, scopes naming unreadable
//! collections). Whatever a request is refused, the store is checked to be unchanged.

use serde_json::{json, Value};
use statesync::{
    encode, ChangeSet, ConflictStrategy, CreateOptions, Encoding, HttpTransport, ManagerConfig, SyncContext, SyncError,
    SyncManager, SyncState, SyncTransport,
};
use statesync_hub::identity::JwtVerifier;
use statesync_hub::rules::Rules;
use statesync_hub::Hub;
use std::sync::Arc;
use std::time::Duration;

mod support;
use support::{host, jwt, jwt_with, unix_now, Hosted, Kind, TestStore, JWT_SECRET, PREFS_SCHEMA, RULES};

on_both_stores!(
    users_are_isolated_in_their_own_spaces,
    bad_tokens_are_401_and_change_nothing,
    a_spaces_claim_grant_filters_pulls_and_refuses_pushes_one_by_one,
    the_push_answer_carries_the_kept_version_only_when_readable,
    the_rules_global_space_is_read_by_all_and_written_by_admins,
    quotas_schemas_and_the_size_limit_refuse_states_one_by_one,
    a_forged_cursor_of_another_space_is_refused_and_nothing_read,
    invalid_space_ids_are_404,
    the_part_one_routes_are_the_space_default,
    a_client_syncing_two_spaces_keeps_two_cursors,
    revert_rejected_converges_with_the_hub,
    the_hub_settles_with_merge_fields_but_refuses_strategies_that_write,
);

// ---- fixtures -------------------------------------------------------------------------------

fn rules(text: &str) -> Rules {
    Rules::parse(text, |file| match file {
        "prefs.schema.json" => Ok(PREFS_SCHEMA.to_owned()),
        other => Err(format!("no file {other}")),
    })
    .expect("rules")
}

/// A hub on a fresh store of `kind` verifying the tests' HS256 JWTs, with `rules_text`.
fn jwt_hub(kind: Kind, rules_text: &str, build: impl FnOnce(Hub) -> Hub) -> Hosted {
    let verifier = JwtVerifier::hs256(JWT_SECRET).expect("key");
    let rules = rules(rules_text);
    host(kind, move |hub| build(hub.jwt(verifier).rules(rules)))
}

/// The token of user `sub`.
fn token_of(sub: &str) -> String {
    jwt(json!({"sub": sub}))
}

/// A transport to `space` of the hub at `url`, with `token`.
fn to(url: &str, space: &str, token: &str) -> HttpTransport {
    HttpTransport::new(url).expect("url").space(space).expect("space").token(token).timeout(Duration::from_secs(30))
}

fn replica(node: &str) -> SyncManager {
    SyncManager::open(ManagerConfig::memory().node_id(node)).expect("open")
}

fn create(m: &SyncManager, id: &str, collection: &str, data: Value) -> Arc<SyncState> {
    m.create_state(data, CreateOptions::id(id).in_collection(collection)).expect("create")
}

fn page_of(states: Vec<Arc<SyncState>>) -> Vec<u8> {
    encode(&ChangeSet { states, cursor: "0".into(), has_more: false }, Encoding::Json)
}

/// An answer to a raw request: status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    /// Asserts a typed error.
    fn error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert!(self.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.body);
    }
}

fn request(method: &str, url: &str, token: Option<&str>, body: &[u8]) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(url).header("content-type", "application/json");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let mut response = agent.run(builder.body(body.to_vec()).expect("request")).expect("answer");
    let text = response.body_mut().read_to_vec().expect("body");
    let body = serde_json::from_slice(&text).unwrap_or(Value::Null);
    Answer { status: response.status().as_u16(), body }
}

/// `GET /v1/spaces/{space}/capabilities`, `POST .../pull` and `POST .../push` (of `push`).
fn three_requests(url: &str, space: &str, token: Option<&str>, push: &[u8]) -> [Answer; 3] {
    let base = format!("{url}/v1/spaces/{space}");
    [
        request("GET", &format!("{base}/capabilities"), token, b""),
        request("POST", &format!("{base}/pull"), token, br#"{"format":1,"cursor":null}"#),
        request("POST", &format!("{base}/push"), token, push),
    ]
}

fn pull_body(cursor: Option<&str>, collections: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&json!({"format": 1, "cursor": cursor, "collections": collections})).expect("json")
}

/// The ids of a list of states, in order.
fn ids(states: &[SyncState]) -> Vec<String> {
    states.iter().map(|s| s.id.clone()).collect()
}

/// Every state of a replica, ordered by id.
fn held(m: &SyncManager) -> Vec<SyncState> {
    support::replica_states(m)
}

// ---- isolation and authentication ----------------------------------------------------------

fn users_are_isolated_in_their_own_spaces(kind: Kind) {
    let served = jwt_hub(kind, "", |hub| hub);
    let (alice, bob) = (token_of("alice"), token_of("bob"));
    // Both write a state of the same id, each in their own space.
    let (phone, laptop) = (replica("alice-phone"), replica("bob-laptop"));
    create(&phone, "settings", "prefs", json!({"theme": "dark", "by": "alice"}));
    create(&phone, "alice-only", "notes", json!({"text": "mine"}));
    create(&laptop, "settings", "prefs", json!({"theme": "light", "by": "bob"}));
    // Two rounds each: the second pulls back what the first pushed, and only that.
    for _ in 0..2 {
        phone.sync_via(&to(&served.url, "user:alice", &alice), &SyncContext::all()).expect("alice's round");
        laptop.sync_via(&to(&served.url, "user:bob", &bob), &SyncContext::all()).expect("bob's round");
    }
    assert_eq!(ids(&held(&phone)), ["alice-only", "settings"]);
    assert_eq!(held(&phone)[1].data["by"], "alice");
    assert_eq!(ids(&held(&laptop)), ["settings"]);
    assert_eq!(held(&laptop)[0].data["by"], "bob");
    assert_eq!(served.states_of("user:alice"), held(&phone));
    assert_eq!(served.states_of("user:bob"), held(&laptop));
    assert!(served.states().is_empty(), "nothing reached the space default");

    // Bob's token in Alice's space (or the space default, which it is not granted): 403 for
    // every endpoint, and nothing read or written.
    let intruder = replica("mallory");
    let forged = create(&intruder, "settings", "prefs", json!({"theme": "light", "by": "mallory"}));
    let push = page_of(vec![forged]);
    for space in ["user:alice", "default"] {
        for answer in three_requests(&served.url, space, Some(&bob), &push) {
            answer.error(403, "FORBIDDEN");
            assert!(answer.body["error"]["message"].as_str().unwrap().contains("bob"), "{}", answer.body);
        }
    }
    for path in ["capabilities", "pull", "push"] {
        let method = if path == "capabilities" { "GET" } else { "POST" };
        let body: &[u8] = if path == "push" { &push } else { br#"{"format":1}"# };
        request(method, &format!("{}/v1/{path}", served.url), Some(&bob), body).error(403, "FORBIDDEN");
    }
    assert_eq!(served.states_of("user:alice"), held(&phone), "alice's space is unchanged");
    // The client library says Forbidden (good credentials, not its space), and its round
    // changes nothing.
    match intruder.sync_via(&to(&served.url, "user:alice", &bob), &SyncContext::all()) {
        Err(e @ SyncError::Forbidden(_)) => assert_eq!(e.code(), "FORBIDDEN"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(intruder.pending_operations().unwrap().len(), 1);
    assert_eq!(served.states_of("user:alice"), held(&phone));
}

fn bad_tokens_are_401_and_change_nothing(kind: Kind) {
    let served = jwt_hub(kind, RULES, |hub| hub);
    let writer = replica("writer");
    served.seed("user:alice", vec![create(&writer, "kept", "notes", json!({"v": 1}))]);
    let before = served.states_of("user:alice");
    let push = page_of(vec![create(&writer, "sneaked", "notes", json!({"v": 2}))]);
    let now = unix_now();
    let other_key = b"another secret of at least thirty-two bytes!";
    let bad: [(&str, Option<String>); 7] = [
        ("no token", None),
        ("garbled", Some("not.a.jwt".to_owned())),
        ("not even dots", Some("garbage".to_owned())),
        ("expired", Some(jwt(json!({"sub": "alice", "exp": now - 3600})))),
        ("not yet valid", Some(jwt(json!({"sub": "alice", "nbf": now + 3600})))),
        ("wrong key", Some(jwt_with(other_key, json!({"sub": "alice"})))),
        ("no subject", Some(jwt(json!({"name": "alice"})))),
    ];
    for (why, token) in &bad {
        for space in ["user:alice", "global", "default"] {
            for answer in three_requests(&served.url, space, token.as_deref(), &push) {
                assert_eq!(answer.status, 401, "{why} in {space}: {}", answer.body);
                answer.error(401, "UNAUTHORIZED");
            }
        }
        match replica("x").sync_via(&to(&served.url, "user:alice", token.as_deref().unwrap_or("")), &SyncContext::all())
        {
            Err(SyncError::Unauthorized(_)) => {}
            other => panic!("{why}: expected UNAUTHORIZED, got {other:?}"),
        }
    }
    assert_eq!(served.states_of("user:alice"), before, "the store is unchanged");
    assert!(served.states_of("global").is_empty() && served.states().is_empty());
    // The good token goes through.
    let answer =
        request("GET", &format!("{}/v1/spaces/user:alice/capabilities", served.url), Some(&token_of("alice")), b"");
    assert_eq!(answer.status, 200, "{}", answer.body);
}

// ---- grants of the token and the rules ------------------------------------------------------

/// The token of `carol`, who may read `notes` and `news` of the space `team`, and write `notes`.
fn carol() -> String {
    jwt(json!({"sub": "carol", "spaces": {"team": {"read": ["notes", "news"], "write": ["notes"]}}}))
}

fn a_spaces_claim_grant_filters_pulls_and_refuses_pushes_one_by_one(kind: Kind) {
    let served = jwt_hub(kind, "", |hub| hub);
    let admin = replica("admin");
    let seeded: Vec<_> = ["notes", "news", "secret"]
        .iter()
        .flat_map(|c| (0..2).map(|i| create(&admin, &format!("{c}-{i}"), c, json!({"i": i}))).collect::<Vec<_>>())
        .collect();
    served.seed("team", seeded);
    let token = carol();
    let pull = format!("{}/v1/spaces/team/pull", served.url);
    let pulled = |collections: &[&str]| {
        let a = request("POST", &pull, Some(&token), &pull_body(None, collections));
        assert_eq!(a.status, 200, "{}", a.body);
        let mut got: Vec<String> =
            a.body["states"].as_array().expect("states").iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect();
        got.sort();
        got
    };
    // Whatever the client asks for, only readable collections come back.
    assert_eq!(pulled(&[]), ["news-0", "news-1", "notes-0", "notes-1"]);
    assert_eq!(pulled(&["secret"]), Vec::<String>::new());
    assert_eq!(pulled(&["secret", "news"]), ["news-0", "news-1"]);
    // Its own space is still full access; another user's is not granted by the claim.
    let own =
        request("POST", &format!("{}/v1/spaces/user:carol/pull", served.url), Some(&token), &pull_body(None, &[]));
    assert_eq!(own.status, 200);
    request("POST", &format!("{}/v1/spaces/user:dave/pull", served.url), Some(&token), &pull_body(None, &[]))
        .error(403, "FORBIDDEN");

    // A round through the library brings the readable collections only.
    let phone = replica("carol-phone");
    phone.sync_via(&to(&served.url, "team", &token), &SyncContext::all()).expect("round");
    assert_eq!(ids(&held(&phone)), ["news-0", "news-1", "notes-0", "notes-1"]);

    // A push of three collections: only `notes` is writable; the others are refused one by one
    // and the rest applies.
    let before = served.states_of("team");
    let mine = vec![
        create(&phone, "n-new", "notes", json!({"by": "carol"})),
        create(&phone, "x-new", "news", json!({"by": "carol"})),
        create(&phone, "s-new", "secret", json!({"by": "carol"})),
        phone.update_state("notes-0", json!({"edited": true})).expect("update"),
    ];
    let a = request("POST", &format!("{}/v1/spaces/team/push", served.url), Some(&token), &page_of(mine));
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!((a.body["result"]["created"].as_u64(), a.body["result"]["updated"].as_u64()), (Some(1), Some(1)));
    assert_eq!(a.body["result"]["rejected"], 2);
    let refused: Vec<(&str, &str)> = a.body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(refused, [("x-new", "FORBIDDEN"), ("s-new", "FORBIDDEN")]);
    let after = served.states_of("team");
    assert_eq!(ids(&after), ["n-new", "news-0", "news-1", "notes-0", "notes-1", "secret-0", "secret-1"]);
    assert_eq!(after.iter().find(|s| s.id == "notes-0").unwrap().data, json!({"edited": true}));
    let untouched = |s: &&SyncState| !["n-new", "notes-0"].contains(&s.id.as_str());
    assert_eq!(after.iter().filter(untouched).collect::<Vec<_>>(), before.iter().filter(untouched).collect::<Vec<_>>());

    // Through the library, the refusals are recorded and the round completes.
    let report = phone.sync_via(&to(&served.url, "team", &token), &SyncContext::all()).expect("round");
    assert_eq!(report.pushed.rejected, 2);
    let mut recorded: Vec<(String, String)> =
        phone.rejections().unwrap().into_iter().map(|r| (r.state_id, r.code)).collect();
    recorded.sort();
    assert_eq!(recorded, [("s-new".into(), "FORBIDDEN".into()), ("x-new".into(), "FORBIDDEN".into())]);
    assert!(phone.pending_operations().unwrap().is_empty(), "refused writes are not retried");
}

fn the_push_answer_carries_the_kept_version_only_when_readable(kind: Kind) {
    let served = jwt_hub(kind, "", |hub| hub);
    let admin = replica("admin");
    let news = create(&admin, "headline", "news", json!({"title": "kept"}));
    let secret = create(&admin, "plan", "secret", json!({"plan": "kept"}));
    served.seed("team", vec![news.clone(), secret.clone()]);
    // Carol's versions, written after the hub's (their clocks have seen them).
    let phone = replica("carol-phone");
    phone.reconcile(vec![news.clone(), secret.clone()]).expect("hold the hub's versions");
    let mine = vec![
        phone.update_state("headline", json!({"title": "carol's"})).expect("update"),
        phone.update_state("plan", json!({"plan": "carol's"})).expect("update"),
        create(&phone, "fresh", "news", json!({"new": true})),
    ];
    let a = request("POST", &format!("{}/v1/spaces/team/push", served.url), Some(&carol()), &page_of(mine));
    assert_eq!(a.status, 200, "{}", a.body);
    let rejected = a.body["rejected"].as_array().expect("rejected");
    let entry = |id: &str| rejected.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} in {rejected:?}"));
    assert_eq!(entry("headline")["code"], "FORBIDDEN");
    let current = SyncState::from_value(entry("headline")["current"].clone()).expect("a state");
    assert_eq!(current, *news, "the kept version of a readable state");
    assert_eq!(entry("plan")["code"], "FORBIDDEN");
    assert!(entry("plan").get("current").is_none(), "nothing of an unreadable state: {}", entry("plan"));
    assert!(entry("fresh").get("current").is_none(), "the hub keeps none: {}", entry("fresh"));
    assert_eq!(served.states_of("team"), vec![(*news).clone(), (*secret).clone()], "nothing changed");
}

fn the_rules_global_space_is_read_by_all_and_written_by_admins(kind: Kind) {
    let served = jwt_hub(kind, RULES, |hub| hub);
    let admin_token = jwt(json!({"sub": "root", "role": "admin"}));
    let desk = replica("desk");
    create(&desk, "motd", "news", json!({"text": "hello"}));
    create(&desk, "theme", "prefs", json!({"theme": "dark"}));
    let report = desk.sync_via(&to(&served.url, "global", &admin_token), &SyncContext::all()).expect("admin's round");
    assert_eq!((report.pushed.created, report.pushed.rejected), (2, 0));
    // Every user reads it, whoever they are; nobody but an admin writes it.
    for user in ["alice", "bob"] {
        let phone = replica(&format!("{user}-phone"));
        create(&phone, &format!("{user}-note"), "news", json!({"by": user}));
        let report = phone.sync_via(&to(&served.url, "global", &token_of(user)), &SyncContext::all()).expect("round");
        assert_eq!((report.pulled.created, report.pushed.rejected), (2, 1), "{user}");
        assert_eq!(phone.rejections().unwrap()[0].code, "FORBIDDEN");
        assert_eq!(phone.get_state("motd").unwrap().expect("pulled").data, json!({"text": "hello"}));
    }
    // A claim that almost matches unlocks nothing.
    let almost = jwt(json!({"sub": "eve", "role": "Admin"}));
    let eve = replica("eve");
    create(&eve, "eve-note", "news", json!({"by": "eve"}));
    assert_eq!(eve.sync_via(&to(&served.url, "global", &almost), &SyncContext::all()).unwrap().pushed.rejected, 1);
    assert_eq!(ids(&served.states_of("global")), ["motd", "theme"]);
    // The rules' schema holds for the admin too.
    let bad = create(&desk, "bad-theme", "prefs", json!({"theme": "neon"}));
    let a = request("POST", &format!("{}/v1/spaces/global/push", served.url), Some(&admin_token), &page_of(vec![bad]));
    assert_eq!(a.body["rejected"][0]["code"], "INVALID_STATE", "{}", a.body);
    assert_eq!(ids(&served.states_of("global")), ["motd", "theme"]);
}

fn quotas_schemas_and_the_size_limit_refuse_states_one_by_one(kind: Kind) {
    let limits = format!("{RULES}\n[limits]\nmax_states = 4\nmax_bytes = 120\nmax_state_bytes = 60\n");
    // The hub's own limit, above the rules' per-state quota.
    let served = jwt_hub(kind, &limits, |hub| hub.max_state_bytes(100));
    let text = |n: usize| json!({"t": "x".repeat(n)}); // n + 8 bytes of canonical JSON
    let push = |space: &str, states: Vec<Arc<SyncState>>| {
        let user = space.strip_prefix("user:").expect("a user space");
        let a =
            request("POST", &format!("{}/v1/spaces/{space}/push", served.url), Some(&token_of(user)), &page_of(states));
        assert_eq!(a.status, 200, "{}", a.body);
        a.body
    };
    let codes = |answer: &Value| -> Vec<(String, String)> {
        answer["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r["code"].as_str().unwrap().to_owned()))
            .collect()
    };

    // max_states: the fifth and sixth live states are refused.
    let a = replica("a");
    let answer = push("user:a", (0..6).map(|i| create(&a, &format!("s{i}"), "notes", json!(i))).collect());
    assert_eq!(answer["result"]["created"], 4, "{answer}");
    assert_eq!(codes(&answer).iter().filter(|(_, c)| c == "QUOTA_EXCEEDED").count(), 2, "{answer}");
    assert_eq!(served.states_of("user:a").len(), 4);

    // max_bytes: two states of 50 bytes fit in 120, a third does not.
    let b = replica("b");
    let answer = push("user:b", (0..3).map(|i| create(&b, &format!("b{i}"), "notes", text(42))).collect());
    assert_eq!(answer["result"]["created"], 2, "{answer}");
    assert_eq!(codes(&answer), [("b2".to_owned(), "QUOTA_EXCEEDED".to_owned())]);

    // Past max_state_bytes of the rules (60) or the hub's own limit (100) a state is
    // INVALID_STATE (a size refusal, design §10); a schema violation too; the rest applies.
    let c = replica("c");
    let answer = push(
        "user:c",
        vec![
            create(&c, "fits", "notes", text(40)),
            create(&c, "over-quota", "notes", text(70)),
            create(&c, "oversize", "notes", text(150)),
            create(&c, "bad-prefs", "prefs", json!({"theme": "neon"})),
            create(&c, "good-prefs", "prefs", json!({"theme": "light"})),
        ],
    );
    let refused = codes(&answer);
    assert_eq!(
        refused.iter().map(|(id, code)| (id.as_str(), code.as_str())).collect::<Vec<_>>(),
        [("over-quota", "INVALID_STATE"), ("oversize", "INVALID_STATE"), ("bad-prefs", "INVALID_STATE")],
        "{answer}"
    );
    let messages: Vec<&str> =
        answer["rejected"].as_array().unwrap().iter().map(|r| r["message"].as_str().unwrap()).collect();
    assert!(messages[0].contains("max_state_bytes"), "{}", messages[0]);
    assert!(messages[2].contains("schema"), "{}", messages[2]);
    assert_eq!(ids(&served.states_of("user:c")), ["fits", "good-prefs"]);

    // Through the library: the refusals are recorded, the accepted states are delivered.
    let d = replica("d");
    create(&d, "ok", "prefs", json!({"theme": "dark"}));
    create(&d, "nope", "prefs", json!({"theme": 7}));
    let report = d.sync_via(&to(&served.url, "user:d", &token_of("d")), &SyncContext::all()).expect("round");
    assert_eq!((report.pushed.created, report.pushed.rejected), (1, 1));
    let refusal = &d.rejections().unwrap()[0];
    assert_eq!((refusal.state_id.as_str(), refusal.code.as_str()), ("nope", "INVALID_STATE"));
    assert!(d.pending_operations().unwrap().is_empty());
}

// ---- cursors, paths and routes --------------------------------------------------------------

fn a_forged_cursor_of_another_space_is_refused_and_nothing_read(kind: Kind) {
    let served = jwt_hub(kind, "", |hub| hub);
    let writer = replica("writer");
    served.seed("user:alice", (0..3).map(|i| create(&writer, &format!("a{i}"), "notes", json!(i))).collect());
    served.seed("user:bob", (0..3).map(|i| create(&writer, &format!("b{i}"), "notes", json!(i))).collect());
    let alice = to(&served.url, "user:alice", &token_of("alice"));
    let page = alice.pull(None, &SyncContext::all().with_limit(1)).expect("pull");
    assert!(page.cursor.starts_with("user:alice."), "{}", page.cursor);
    // Bob sends Alice's cursor (or one he made up naming her space) to his own space: refused,
    // not read from that position.
    let bob = token_of("bob");
    let url = format!("{}/v1/spaces/user:bob/pull", served.url);
    for forged in [page.cursor.clone(), "user:alice.0".to_owned(), "default.1".to_owned(), "user:bob".to_owned()] {
        let a = request("POST", &url, Some(&bob), &pull_body(Some(&forged), &[]));
        a.error(400, "INVALID_INPUT");
        assert!(a.body.get("states").is_none());
    }
    // And to Alice's space, her cursor does not let him in.
    let a = request(
        "POST",
        &format!("{}/v1/spaces/user:alice/pull", served.url),
        Some(&bob),
        &pull_body(Some(&page.cursor), &[]),
    );
    a.error(403, "FORBIDDEN");
    // The library refuses the same way.
    let his = to(&served.url, "user:bob", &bob);
    assert!(matches!(his.pull(Some(&page.cursor), &SyncContext::all()), Err(SyncError::InvalidInput(_))));
    // His own cursor works.
    let own = his.pull(None, &SyncContext::all().with_limit(1)).expect("pull");
    let rest = his.pull(Some(&own.cursor), &SyncContext::all()).expect("pull");
    assert_eq!(ids(&rest.states.iter().map(|s| (**s).clone()).collect::<Vec<_>>()), ["b1", "b2"]);
}

fn invalid_space_ids_are_404(kind: Kind) {
    let served = jwt_hub(kind, "", |hub| hub);
    let writer = replica("writer");
    let push = page_of(vec![create(&writer, "w", "notes", json!(1))]);
    let long = "x".repeat(129);
    for (space, token) in [
        ("bad%20space", Some(token_of("alice"))),
        ("%C3%BC", Some(token_of("alice"))),
        (long.as_str(), Some(token_of("alice"))),
        ("a%2Fb", None),
        ("bad%20space", None),
    ] {
        for answer in three_requests(&served.url, space, token.as_deref(), &push) {
            answer.error(404, "NOT_FOUND");
        }
    }
    // The library refuses such an id before sending anything.
    assert!(matches!(HttpTransport::new(&served.url).unwrap().space("bad space"), Err(SyncError::InvalidInput(_))));
    assert!(served.states_of("user:alice").is_empty() && served.states().is_empty());
}

fn the_part_one_routes_are_the_space_default(kind: Kind) {
    let served = host(kind, |hub| hub);
    let phone = replica("phone");
    for i in 0..3 {
        create(&phone, &format!("p{i}"), "notes", json!(i));
    }
    // Pushed through /v1/push: in the space default.
    phone.sync_via(&HttpTransport::new(&served.url).unwrap(), &SyncContext::all()).expect("round");
    assert_eq!(served.states_of("default"), held(&phone));
    // /v1/spaces/default/... is the same space: same node id, same feed, same cursors.
    let plain = HttpTransport::new(&served.url).unwrap();
    let named = HttpTransport::new(&served.url).unwrap().space("default").unwrap();
    assert_eq!(plain.capabilities().unwrap().node_id, named.capabilities().unwrap().node_id);
    let first = plain.pull(None, &SyncContext::all().with_limit(2)).expect("pull");
    assert!(first.cursor.starts_with("default."), "{}", first.cursor);
    let rest = named.pull(Some(&first.cursor), &SyncContext::all()).expect("pull");
    assert_eq!(rest.states.len(), 1);
    let laptop = replica("laptop");
    laptop.sync_via(&named, &SyncContext::all()).expect("round");
    assert_eq!(held(&laptop), held(&phone));
    // With JWTs, the space default is a space like any other: not granted to a user.
    let jwt_served = jwt_hub(kind, "", |hub| hub);
    request("GET", &format!("{}/v1/capabilities", jwt_served.url), Some(&token_of("alice")), b"")
        .error(403, "FORBIDDEN");
}

fn a_client_syncing_two_spaces_keeps_two_cursors(kind: Kind) {
    let served = jwt_hub(kind, "", |hub| hub);
    let token = jwt(json!({"sub": "alice", "spaces": {"team": {"read": ["*"], "write": ["*"]}}}));
    let (own, team) = (to(&served.url, "user:alice", &token), to(&served.url, "team", &token));
    let (own_node, team_node) = (own.capabilities().unwrap().node_id, team.capabilities().unwrap().node_id);
    assert_ne!(own_node, team_node, "each space is a peer of its own");
    assert_eq!(team_node, format!("{}/team", served.store.node_id()));
    let writer = replica("writer");
    served.seed("user:alice", (0..3).map(|i| create(&writer, &format!("own{i}"), "notes", json!(i))).collect());
    served.seed("team", (0..2).map(|i| create(&writer, &format!("team{i}"), "notes", json!(i))).collect());

    let phone = replica("phone");
    create(&phone, "from-phone", "notes", json!("p"));
    for _ in 0..3 {
        for t in [&own, &team] {
            phone.sync_via(t, &SyncContext::all().with_limit(2)).expect("round");
        }
    }
    // Both spaces and the phone converged.
    assert_eq!(held(&phone).len(), 6);
    assert_eq!(served.states_of("user:alice"), held(&phone));
    assert_eq!(served.states_of("team"), held(&phone));
    // One cursor per space, each naming its space.
    let scope = SyncContext::all().with_limit(2).scope();
    let cursor = |node: &str| phone.peer_cursor(node, &scope).unwrap().unwrap_or_else(|| panic!("a cursor for {node}"));
    assert!(cursor(&own_node).starts_with("user:alice."), "{}", cursor(&own_node));
    assert!(cursor(&team_node).starts_with("team."), "{}", cursor(&team_node));
    // Quiet rounds resume where they stopped: nothing pulled again.
    for t in [&own, &team] {
        let report = phone.sync_via(t, &SyncContext::all().with_limit(2)).expect("round");
        let moved = report.pulled.created + report.pulled.updated + report.pushed.created + report.pushed.updated;
        assert_eq!(moved, 0, "{report:?}");
    }
    // A write in one space reaches the phone, and through it the other.
    let w = writer.update_state("team0", json!("edited")).expect("update");
    served.seed("team", vec![w]);
    for t in [&team, &own] {
        phone.sync_via(t, &SyncContext::all().with_limit(2)).expect("round");
    }
    assert_eq!(served.states_of("user:alice").iter().find(|s| s.id == "team0").unwrap().data, json!("edited"));
}

// ---- rejected writes, end to end ------------------------------------------------------------

fn revert_rejected_converges_with_the_hub(kind: Kind) {
    let served = jwt_hub(kind, RULES, |hub| hub);
    let admin = to(&served.url, "global", &jwt(json!({"sub": "root", "role": "admin"})));
    let desk = replica("desk");
    create(&desk, "banner", "news", json!({"text": "welcome"}));
    desk.sync_via(&admin, &SyncContext::all()).expect("admin's round");

    let alice = to(&served.url, "global", &token_of("alice"));
    let phone = replica("alice-phone");
    phone.sync_via(&alice, &SyncContext::all()).expect("round");
    // Alice edits what she may not write, and writes a state of her own there.
    phone.update_state("banner", json!({"text": "alice was here"})).expect("update");
    create(&phone, "graffiti", "news", json!({"text": "mine"}));
    let report = phone.sync_via(&alice, &SyncContext::all()).expect("round");
    assert_eq!(report.pushed.rejected, 2);
    let mut rejections = phone.rejections().unwrap();
    rejections.sort_by(|a, b| a.state_id.cmp(&b.state_id));
    assert_eq!(rejections.len(), 2);
    let (banner, graffiti) = (&rejections[0], &rejections[1]);
    assert_eq!((banner.state_id.as_str(), banner.code.as_str(), banner.own), ("banner", "FORBIDDEN", true));
    assert_eq!(banner.current.as_ref().expect("the hub's version").data, json!({"text": "welcome"}));
    assert_eq!((graffiti.state_id.as_str(), graffiti.code.as_str()), ("graffiti", "FORBIDDEN"));
    assert!(graffiti.current.is_none(), "the hub keeps none");
    assert!(phone.pending_operations().unwrap().is_empty(), "the refused writes are dropped");

    // Revert both: the hub's version back, and a deletion of what the hub never had.
    assert_eq!(phone.revert_rejected("banner").expect("revert").data, json!({"text": "welcome"}));
    assert!(phone.revert_rejected("graffiti").expect("revert").deleted);
    let report = phone.sync_via(&alice, &SyncContext::all()).expect("round");
    assert_eq!(report.pushed.rejected, 0, "the reverted versions go through");
    assert!(phone.rejections().unwrap().is_empty(), "the rejections are gone");
    assert!(phone.pending_operations().unwrap().is_empty());
    let hub = served.states_of("global");
    let live = |states: &[SyncState]| -> Vec<(String, Value)> {
        states.iter().filter(|s| !s.deleted).map(|s| (s.id.clone(), s.data.clone())).collect()
    };
    assert_eq!(live(&hub), [("banner".to_owned(), json!({"text": "welcome"}))]);
    assert_eq!(live(&held(&phone)), live(&hub));

    // The admin's next edit reaches Alice, and the admin sees what Alice's revert settled on.
    desk.sync_via(&admin, &SyncContext::all()).expect("round");
    desk.update_state("banner", json!({"text": "new banner"})).expect("update");
    desk.sync_via(&admin, &SyncContext::all()).expect("round");
    phone.sync_via(&alice, &SyncContext::all()).expect("round");
    assert_eq!(phone.get_state("banner").unwrap().unwrap().data, json!({"text": "new banner"}));
    for m in [&phone, &desk] {
        let mine: Vec<(String, Value, bool)> = held(m).into_iter().map(|s| (s.id, s.data, s.deleted)).collect();
        let hubs: Vec<(String, Value, bool)> =
            served.states_of("global").into_iter().map(|s| (s.id, s.data, s.deleted)).collect();
        assert_eq!(mine, hubs, "{} converged with the hub", m.node_id().unwrap());
    }
}

// ---- conflict strategies --------------------------------------------------------------------

fn the_hub_settles_with_merge_fields_but_refuses_strategies_that_write(kind: Kind) {
    let store = TestStore::new(kind);
    for strategy in [ConflictStrategy::LocalWins, ConflictStrategy::RemoteWins, ConflictStrategy::Manual] {
        let name = strategy.name();
        match store.hub().strategy("prefs", strategy) {
            Err(e) => assert_eq!(e.code(), "INVALID_INPUT", "{name}: {e}"),
            Ok(_) => panic!("{name} was accepted"),
        }
    }
    assert_eq!(store.hub().strategy("", ConflictStrategy::MergeFields).err().map(|e| e.code()), Some("INVALID_INPUT"));
    assert!(store.hub().strategy("prefs", ConflictStrategy::LastWriteWins).is_ok());
    drop(store);

    // MergeFields on the hub: two concurrent edits of different fields, pushed one after the
    // other without a pull between (so the hub meets both versions itself), both survive.
    let served = host(kind, |hub| hub.strategy("prefs", ConflictStrategy::MergeFields).expect("a hub strategy"));
    let t = HttpTransport::new(&served.url).unwrap().space("team").unwrap();
    t.capabilities().expect("capabilities");
    let merging = |node: &str| {
        let config = ManagerConfig::memory().node_id(node).collection_strategy("prefs", ConflictStrategy::MergeFields);
        SyncManager::open(config).expect("open")
    };
    let (phone, laptop) = (merging("phone"), merging("laptop"));
    create(&phone, "settings", "prefs", json!({"theme": "light", "size": 12}));
    phone.sync_via(&t, &SyncContext::all()).expect("round");
    laptop.sync_via(&t, &SyncContext::all()).expect("round");
    phone.update_state("settings", json!({"theme": "dark", "size": 12})).expect("update");
    laptop.update_state("settings", json!({"theme": "light", "size": 16})).expect("update");
    for m in [&phone, &laptop] {
        let pushed = t.push(&m.changes_since(None, &SyncContext::all()).expect("changes")).expect("push");
        assert_eq!(pushed.rejected, 0);
    }
    let kept = served.states_of("team");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].data, json!({"theme": "dark", "size": 16}), "both fields kept");
    // The clients settle on the hub's merge.
    for m in [&phone, &laptop] {
        m.sync_via(&t, &SyncContext::all()).expect("round");
        assert_eq!(m.get_state("settings").unwrap().unwrap().data, json!({"theme": "dark", "size": 16}));
    }
}
