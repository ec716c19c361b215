//! The hub's settings: its flags, their `STATESYNC_HUB_*` environment twins and the `--config`
//! file (command line > environment > file > default), the token that never comes from the
//! command line, and the log subscriber they configure.

use crate::with_causes;
use axum::http::HeaderValue;
use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};
use statesync::DEFAULT_MAX_STATE_BYTES;
use statesync_hub::{Limits, DEFAULT_MAX_BATCH};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// The prefix of every flag's environment variable.
const ENV_PREFIX: &str = "STATESYNC_HUB_";

/// A statesync sync hub: one SQLite replica served over the HTTP sync protocol (docs/protocol.md).
///
/// Every flag also reads an environment variable, STATESYNC_HUB_<FLAG> (shown with each flag),
/// and a key of the --config file named like the flag (`max-batch = 500`). Command line beats
/// environment beats config file beats default.
#[derive(Parser, Debug)]
#[command(name = "statesync-hub", version, about)]
pub(crate) struct Args {
    /// TOML file of settings, one key per flag by its long name (`listen = "0.0.0.0:7878"`).
    #[arg(long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Where the hub keeps its spaces: `sqlite:PATH` (embedded, one process; created if missing)
    /// or `postgres://USER@HOST:PORT/DATABASE` (shared by any number of hub processes). A URL with
    /// a password only from the environment or the config file, like the secrets. `--db PATH`
    /// (the flag of earlier releases) is `--store sqlite:PATH`.
    #[arg(long, value_name = "STORE", required = true, hide_env_values = true, alias = "db")]
    pub(crate) store: Option<String>,
    /// Connections to PostgreSQL this process keeps open (ignored for SQLite).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = positive)]
    pub(crate) store_pool_size: usize,
    /// Address to listen on (port 0 picks a free one, printed in the start line).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub(crate) listen: String,
    /// Require `Authorization: Bearer TOKEN` on every request. Only from the environment or the
    /// config file: refused on the command line, where `ps` would show it.
    #[arg(long, value_name = "TOKEN", hide_env_values = true, hide_default_value = true)]
    pub(crate) token: Option<String>,
    /// Read the bearer token from this file (one trailing newline ignored).
    #[arg(long, value_name = "PATH")]
    pub(crate) token_file: Option<PathBuf>,
    /// Identify callers by HS256 JWTs signed with this secret (at least 32 bytes). Only from the
    /// environment or the config file, like --token.
    #[arg(long, value_name = "SECRET", hide_env_values = true, hide_default_value = true)]
    pub(crate) jwt_hs256_secret: Option<String>,
    /// Read the HS256 JWT secret from this file (one trailing newline ignored).
    #[arg(long, value_name = "PATH")]
    pub(crate) jwt_hs256_secret_file: Option<PathBuf>,
    /// Identify callers by JWTs signed with the private key of this PEM public key (Ed25519:
    /// EdDSA, P-256: ES256, RSA: RS256).
    #[arg(long, value_name = "PATH")]
    pub(crate) jwt_public_key: Option<PathBuf>,
    /// Accept only JWTs whose `iss` is one of these; repeatable, or a comma-separated list.
    #[arg(long, value_name = "ISSUER", action = ArgAction::Append, value_delimiter = ',')]
    pub(crate) jwt_issuer: Vec<String>,
    /// Accept only JWTs whose `aud` names one of these; repeatable, or a comma-separated list.
    #[arg(long, value_name = "AUDIENCE", action = ArgAction::Append, value_delimiter = ',')]
    pub(crate) jwt_audience: Vec<String>,
    /// The rules file (TOML): spaces every user reaches, per-space quotas, JSON Schemas.
    #[arg(long, value_name = "PATH")]
    pub(crate) rules: Option<PathBuf>,
    /// Largest page served, and the most states a push may carry.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_BATCH, value_parser = positive)]
    pub(crate) max_batch: usize,
    /// Largest push body (compressed or decoded) and pull answer, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body_bytes, value_parser = positive)]
    pub(crate) max_body_bytes: usize,
    /// Largest state data accepted, in bytes of canonical JSON; a larger state is refused alone.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_STATE_BYTES, value_parser = positive)]
    pub(crate) max_state_bytes: usize,
    /// How far ahead of the hub's clock a pushed state may be stamped (e.g. 1h, 90s).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = humantime::parse_duration)]
    pub(crate) max_clock_skew: Duration,
    /// Open connections at once; more clients wait until one closes.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections, value_parser = positive)]
    pub(crate) max_connections: usize,
    /// How long a client may take to send a request's headers (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub(crate) header_timeout: Duration,
    /// How long a connection may go without a byte either way while the hub waits on the client.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub(crate) idle_timeout: Duration,
    /// How long one request may take in all, body included.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) request_timeout: Duration,
    /// Log format on stderr: `text` (one line per event) or `json` (one object per line).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
    /// Which events to log: a level (`info`, `debug`) or a tracing filter (`info,statesync_hub=debug`).
    #[arg(long, value_name = "FILTER", default_value = "info", value_parser = log_filter)]
    pub(crate) log_level: String,
    /// Serve Prometheus metrics at /metrics (unauthenticated: keep it off public networks).
    #[arg(long, action = ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) metrics: bool,
    /// Let a browser app on this origin (`https://app.example.com`) call the hub; repeatable, or
    /// a comma-separated list.
    #[arg(long, value_name = "ORIGIN", action = ArgAction::Append, value_delimiter = ',', value_parser = origin)]
    pub(crate) cors_origin: Vec<String>,
    /// Back every space up to this storage URL (`file:///DIR`, `s3://BUCKET/PREFIX?endpoint=…`,
    /// `gs://…`, `az://…`, `memory://…`): each space's backups under `URL/SPACE/`. Credentials
    /// from the environment (`AWS_*`, …) or the URL's query, never printed.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    pub(crate) backup_to: Option<String>,
    /// Time between backup runs (e.g. 1h, 15m, 30s; at least 1s); the first run is one
    /// interval after the start. Each run backs up only the spaces changed since their last backup.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = backup_interval)]
    pub(crate) backup_every: Duration,
    /// Backups kept per space; older ones are deleted after each backup.
    #[arg(long, value_name = "N", default_value_t = 24, value_parser = positive)]
    pub(crate) backup_keep: usize,
    /// Encrypt the backups with the key in this file: 32 raw bytes or 64 hex characters (a key
    /// is never taken on the command line).
    #[arg(long, value_name = "PATH")]
    pub(crate) backup_key_file: Option<PathBuf>,
}

/// The formats of `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

fn positive(value: &str) -> Result<usize, String> {
    value.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| format!("{value:?} is not a positive whole number"))
}

/// A `--backup-every` interval: a duration as the other duration flags take it, at least 1 s.
fn backup_interval(value: &str) -> Result<Duration, String> {
    let every = humantime::parse_duration(value)
        .map_err(|e| format!("{value:?} is not a duration (such as 1h, 15m, 30s): {e}"))?;
    if every < statesync::MIN_AUTO_BACKUP_INTERVAL {
        return Err(format!("{value:?} is too short: backups run at most once a second"));
    }
    Ok(every)
}

fn log_filter(value: &str) -> Result<String, String> {
    EnvFilter::try_new(value).map(|_| value.to_owned()).map_err(|e| format!("{value:?} is not a log filter: {e}"))
}

/// An origin as browsers send it: `http` or `https`, a host, an optional port, nothing else.
fn origin(value: &str) -> Result<String, String> {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://"));
    let valid = rest.is_some_and(|host| {
        !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) && HeaderValue::from_str(value).is_ok()
    });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!("{value:?} is not an origin: scheme://host[:port], no path (e.g. https://app.example.com)"))
    }
}

/// A command-line or configuration problem: exit code 2, like clap's usage errors.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

/// The environment variable of a flag: `max-batch` → `STATESYNC_HUB_MAX_BATCH`.
fn env_name(long: &str) -> String {
    format!("{ENV_PREFIX}{}", long.to_ascii_uppercase().replace('-', "_"))
}

/// The flags the user sets (not `--help`/`--version`).
fn settable(arg: &clap::Arg) -> Option<&str> {
    arg.get_long().filter(|long| !matches!(*long, "help" | "version"))
}

/// The `--config` path: from the command line (`--config P` or `--config=P`, before any `--`),
/// else from `STATESYNC_HUB_CONFIG`.
fn config_path(argv: &[OsString], env: Option<OsString>) -> Option<PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--config=")) {
            return Some(PathBuf::from(path));
        }
    }
    env.filter(|p| !p.is_empty()).map(PathBuf::from)
}

/// The command with every flag's environment variable, and the config file's values as the
/// flags' defaults (so the command line and the environment still win over them).
fn command(config: Option<&Path>) -> Result<clap::Command, UsageError> {
    let mut command = Args::command();
    let longs: Vec<String> = command.get_arguments().filter_map(settable).map(str::to_owned).collect();
    for long in &longs {
        command = command.mut_arg(long.replace('-', "_"), |arg| arg.env(env_name(long)));
    }
    let Some(path) = config else {
        return Ok(command);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read the config file {shown}: {}", with_causes(&e))))?;
    let table: toml::Table =
        text.parse().map_err(|e| UsageError(format!("the config file {shown} is not valid TOML: {e}")))?;
    for (key, value) in &table {
        let known = longs.iter().any(|l| l == key && l != "config");
        if !known {
            return Err(UsageError(format!(
                "the config file {shown} has an unknown key {key:?} (the keys are the flags' long names: {})",
                longs.iter().filter(|l| *l != "config").cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        let id = key.replace('-', "_");
        let arg = command.get_arguments().find(|a| a.get_id() == id.as_str()).expect("a known flag");
        let values = config_values(arg, value)
            .map_err(|expected| UsageError(format!("the config file {shown}: key {key:?} must be {expected}")))?;
        // The flag's own value parser checks each value, alone, so the error can name the key.
        let check = clap::Command::new("statesync-hub").no_binary_name(true).arg(arg.clone().required(false));
        for v in values.iter().filter(|_| !matches!(arg.get_action(), ArgAction::SetTrue)) {
            check.clone().try_get_matches_from([format!("--{key}={v}")]).map_err(|e| {
                let e = e.to_string();
                let e = e.trim().trim_start_matches("error: ");
                UsageError(format!("the config file {shown}: key {key:?}: {}", e.lines().next().unwrap_or(e)))
            })?;
        }
        // A config file may supply a required flag; clap refuses a required flag with a default.
        command = command.mut_arg(id, |arg| arg.required(false).default_values(values));
    }
    Ok(command)
}

/// A TOML value as the flag's textual values, or what the flag expects instead.
fn config_values(arg: &clap::Arg, value: &toml::Value) -> Result<Vec<String>, &'static str> {
    match (arg.get_action(), value) {
        (ArgAction::SetTrue, toml::Value::Boolean(b)) => Ok(vec![b.to_string()]),
        (ArgAction::SetTrue, _) => Err("true or false"),
        (ArgAction::Append, toml::Value::Array(items)) => {
            items.iter().map(|item| item.as_str().map(str::to_owned).ok_or("a string or an array of strings")).collect()
        }
        (_, toml::Value::String(s)) => Ok(vec![s.clone()]),
        (_, toml::Value::Integer(n)) => Ok(vec![n.to_string()]),
        (ArgAction::Append, _) => Err("a string or an array of strings"),
        _ => Err("a string or an integer"),
    }
}

/// Parses `argv` with the environment and the config file. `Ok(Err(e))` is clap's own outcome
/// (`--help`, `--version` or a usage error), to print and exit with.
pub(crate) fn parse(argv: Vec<OsString>) -> Result<Result<(Args, ArgMatches), clap::Error>, UsageError> {
    let config = config_path(&argv, std::env::var_os(env_name("config")));
    let command = command(config.as_deref())?;
    let matches = match command.try_get_matches_from(argv) {
        Ok(m) => m,
        Err(e) => return Ok(Err(e)),
    };
    for (id, long) in [("token", "token"), ("jwt_hs256_secret", "jwt-hs256-secret")] {
        if matches.value_source(id) == Some(ValueSource::CommandLine) {
            return Err(UsageError(format!(
                "--{long} must not be given on the command line, where `ps` shows it to every user: set {} \
                 in the environment, use --{long}-file PATH, or put `{long} = \"...\"` in the --config file",
                env_name(long)
            )));
        }
    }
    let store = matches.get_one::<String>("store");
    if matches.value_source("store") == Some(ValueSource::CommandLine) && store.is_some_and(|s| has_password(s)) {
        return Err(UsageError(format!(
            "--store must not carry a password on the command line, where `ps` shows it to every user: set {} in \
             the environment, or put `store = \"...\"` in the --config file",
            env_name("store")
        )));
    }
    match Args::from_arg_matches(&matches) {
        Ok(args) => Ok(Ok((args, matches))),
        Err(e) => Ok(Err(e)),
    }
}

/// True when a store URL carries a password (`scheme://user:password@host`).
fn has_password(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// The bearer token, from wherever it was given with the highest precedence (`--token` from the
/// environment or the config file, or `--token-file`); none, or an empty one: no authorization.
pub(crate) fn token(args: &Args, matches: &ArgMatches) -> Result<Option<String>, UsageError> {
    secret(matches, "token", args.token.as_deref(), args.token_file.as_deref())
}

/// The HS256 JWT secret (`--jwt-hs256-secret` from the environment or the config file, or
/// `--jwt-hs256-secret-file`), as [`token`] reads the token.
pub(crate) fn jwt_secret(args: &Args, matches: &ArgMatches) -> Result<Option<String>, UsageError> {
    secret(matches, "jwt-hs256-secret", args.jwt_hs256_secret.as_deref(), args.jwt_hs256_secret_file.as_deref())
}

/// A secret given inline (flag `long`, never from the command line: see [`parse`]) or in the
/// file of flag `long-file`, whichever has the higher precedence; given twice at one level is
/// a usage error.
fn secret(
    matches: &ArgMatches,
    long: &str,
    inline_value: Option<&str>,
    file_path: Option<&Path>,
) -> Result<Option<String>, UsageError> {
    let id = long.replace('-', "_");
    let inline = matches.value_source(&id).filter(|_| inline_value.is_some());
    let file = matches.value_source(&format!("{id}_file")).filter(|_| file_path.is_some());
    let inline_text = || inline_value.filter(|t| !t.is_empty()).map(str::to_owned);
    match (inline, file) {
        (Some(a), Some(b)) if a == b => Err(UsageError(format!(
            "the {long} is given twice ({}): set either the {long} or the {long} file",
            match a {
                ValueSource::EnvVariable => format!("{} and {}", env_name(long), env_name(&format!("{long}-file"))),
                _ => format!("{long} and {long}-file in the config file"),
            }
        ))),
        (Some(a), Some(b)) if a > b => Ok(inline_text()),
        (None, None) => Ok(None),
        (Some(_), None) => Ok(inline_text()),
        (_, Some(_)) => {
            let path = file_path.expect("checked above");
            let text = std::fs::read_to_string(path).map_err(|e| {
                UsageError(format!("cannot read the {long} file {}: {}", path.display(), with_causes(&e)))
            })?;
            let value = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
            if value.is_empty() {
                return Err(UsageError(format!("the {long} file {} is empty", path.display())));
            }
            Ok(Some(value.to_owned()))
        }
    }
}

/// Installs the log subscriber: events to stderr, as text or JSON, filtered by `--log-level`.
pub(crate) fn init_logs(args: &Args) {
    let filter = EnvFilter::try_new(&args.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A subscriber set already (never, in the binary) is left in place.
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn config_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(text.as_bytes()).expect("write");
        file
    }

    fn parse_with(config: Option<&Path>, argv: &[&str]) -> Result<(Args, ArgMatches), String> {
        let command = command(config).map_err(|UsageError(m)| m)?;
        let matches = command.try_get_matches_from(argv).map_err(|e| e.to_string())?;
        let args = Args::from_arg_matches(&matches).map_err(|e| e.to_string())?;
        Ok((args, matches))
    }

    #[test]
    fn defaults_are_the_libraries_defaults() {
        let (args, _) = parse_with(None, &["statesync-hub", "--store", "sqlite:x.db"]).unwrap();
        assert_eq!(args.max_clock_skew, statesync::DEFAULT_MAX_CLOCK_SKEW);
        let limits = Limits::default();
        assert_eq!(
            (args.header_timeout, args.idle_timeout, args.request_timeout),
            (limits.header_timeout, limits.idle_timeout, limits.request_timeout)
        );
        assert_eq!((args.log_format, args.log_level.as_str(), args.metrics), (LogFormat::Text, "info", false));
        assert!(args.cors_origin.is_empty());
        assert!(parse_with(None, &["statesync-hub", "--store", "sqlite:x.db", "--max-batch", "0"]).is_err());
        assert!(parse_with(None, &["statesync-hub"]).is_err(), "--store is required");
    }

    #[test]
    fn backup_flags_have_defaults_and_come_from_the_config_file_too() {
        let (args, _) = parse_with(None, &["statesync-hub", "--store", "sqlite:x.db"]).unwrap();
        assert_eq!((args.backup_to, args.backup_every, args.backup_keep), (None, Duration::from_secs(3600), 24));
        assert!(args.backup_key_file.is_none());
        let file = config_file(
            "backup-to = \"s3://b/hub?endpoint=http://127.0.0.1:9000\"\nbackup-every = \"15m\"\nbackup-keep = 96\n",
        );
        let (args, _) = parse_with(Some(file.path()), &["statesync-hub", "--store", "sqlite:x.db"]).unwrap();
        assert_eq!(args.backup_to.as_deref(), Some("s3://b/hub?endpoint=http://127.0.0.1:9000"));
        assert_eq!((args.backup_every, args.backup_keep), (Duration::from_secs(900), 96));
        for (every, expected) in [("30s", Ok(Duration::from_secs(30))), ("1h", Ok(Duration::from_secs(3600)))] {
            assert_eq!(backup_interval(every), expected);
        }
        assert!(backup_interval("500ms").unwrap_err().contains("too short"));
        assert!(backup_interval("soon").unwrap_err().contains("not a duration"));
        let bad = config_file("backup-every = \"0s\"\n");
        let error = command(Some(bad.path())).map(|_| ()).unwrap_err().0;
        assert!(error.contains("\"backup-every\"") && error.contains("too short"), "{error}");
    }

    #[test]
    fn every_flag_has_its_environment_variable() {
        let command = command(None).unwrap();
        for arg in command.get_arguments().filter(|a| settable(a).is_some()) {
            let long = arg.get_long().unwrap();
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(env_name(long).as_str()), "{long}");
        }
        assert_eq!(env_name("max-batch"), "STATESYNC_HUB_MAX_BATCH");
    }

    #[test]
    fn the_config_file_sets_defaults_the_command_line_overrides() {
        let file = config_file(
            "store = \"sqlite:from-config.db\"\nstore-pool-size = 3\nmax-batch = 5\nmax-clock-skew = \"90s\"\nmetrics = true\n\
             cors-origin = [\"http://a.test:1\", \"https://b.test\"]\nlog-format = \"json\"\n",
        );
        let (args, _) = parse_with(Some(file.path()), &["statesync-hub"]).unwrap();
        assert_eq!(args.store.as_deref(), Some("sqlite:from-config.db"), "a required flag from the file");
        assert_eq!((args.store_pool_size, args.max_batch), (3, 5));
        assert_eq!(args.max_clock_skew, Duration::from_secs(90));
        assert!(args.metrics);
        assert_eq!(args.cors_origin, ["http://a.test:1", "https://b.test"]);
        assert_eq!(args.log_format, LogFormat::Json);
        let (args, _) = parse_with(
            Some(file.path()),
            &[
                "statesync-hub",
                "--store-pool-size=4",
                "--max-batch",
                "7",
                "--cors-origin",
                "http://c.test",
                "--store=sqlite:x.db",
            ],
        )
        .unwrap();
        assert_eq!((args.store_pool_size, args.max_batch), (4, 7));
        assert_eq!(args.cors_origin, ["http://c.test"]);
        assert_eq!(args.store.as_deref(), Some("sqlite:x.db"));
    }

    #[test]
    fn bad_config_files_are_errors_naming_the_file_and_the_key() {
        for (text, key, expected) in [
            ("bogus = 1", "\"bogus\"", "unknown key"),
            ("config = \"other.toml\"", "\"config\"", "unknown key"),
            ("max-batch = \"many\"", "\"max-batch\"", "not a positive whole number"),
            ("max-batch = 1.5", "\"max-batch\"", "must be a string or an integer"),
            ("max-batch = 0", "\"max-batch\"", "not a positive whole number"),
            ("listen = [\"a\"]", "\"listen\"", "must be a string or an integer"),
            ("metrics = \"yes\"", "\"metrics\"", "true or false"),
            ("cors-origin = [1]", "\"cors-origin\"", "array of strings"),
            ("cors-origin = \"http://a.test/path\"", "\"cors-origin\"", "not an origin"),
            ("idle-timeout = 30", "\"idle-timeout\"", "idle-timeout"),
            ("log-format = \"xml\"", "\"log-format\"", "xml"),
            ("[server]\nlisten = \"x\"", "\"server\"", "unknown key"),
        ] {
            let file = config_file(text);
            let error = command(Some(file.path())).map(|_| ()).unwrap_err().0;
            let shown = file.path().display().to_string();
            assert!(error.contains(&shown) && error.contains(key) && error.contains(expected), "{text:?}: {error}");
        }
        let file = config_file("listen = ");
        let error = command(Some(file.path())).map(|_| ()).unwrap_err().0;
        assert!(error.contains("not valid TOML") && error.contains(&file.path().display().to_string()), "{error}");
        let error = command(Some(Path::new("/nonexistent/hub.toml"))).map(|_| ()).unwrap_err().0;
        assert!(error.contains("cannot read the config file /nonexistent/hub.toml"), "{error}");
    }

    #[test]
    fn the_config_path_comes_from_the_command_line_first() {
        let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        let env = Some(OsString::from("env.toml"));
        assert_eq!(config_path(&argv(&["hub", "--config", "a.toml"]), env.clone()), Some("a.toml".into()));
        assert_eq!(config_path(&argv(&["hub", "--config=b.toml"]), env.clone()), Some("b.toml".into()));
        assert_eq!(config_path(&argv(&["hub", "--store", "x"]), env.clone()), Some("env.toml".into()));
        assert_eq!(config_path(&argv(&["hub", "--", "--config", "c.toml"]), None), None);
    }

    #[test]
    fn the_token_comes_from_a_file_the_environment_or_the_config_never_the_command_line() {
        let secret = config_file("s3cret\n");
        let path = secret.path().display().to_string();
        let (args, matches) =
            parse_with(None, &["statesync-hub", "--store", "sqlite:x.db", "--token-file", &path]).unwrap();
        assert_eq!(token(&args, &matches).unwrap().as_deref(), Some("s3cret"), "one trailing newline trimmed");
        let crlf = config_file("s3cret\r\n");
        let crlf_path = crlf.path().display().to_string();
        let (args, matches) =
            parse_with(None, &["statesync-hub", "--store", "sqlite:x.db", "--token-file", &crlf_path]).unwrap();
        assert_eq!(token(&args, &matches).unwrap().as_deref(), Some("s3cret"));

        let empty = config_file("\n");
        let empty_path = empty.path().display().to_string();
        let (args, matches) =
            parse_with(None, &["statesync-hub", "--store", "sqlite:x.db", "--token-file", &empty_path]).unwrap();
        assert!(token(&args, &matches).unwrap_err().0.contains("is empty"));
        let (args, matches) =
            parse_with(None, &["statesync-hub", "--store", "sqlite:x.db", "--token-file", "/nonexistent/token"])
                .unwrap();
        assert!(token(&args, &matches).unwrap_err().0.contains("cannot read the token file /nonexistent/token"));

        let config = config_file("token = \"from-config\"\n");
        let (args, matches) = parse_with(Some(config.path()), &["statesync-hub", "--store", "sqlite:x.db"]).unwrap();
        assert_eq!(token(&args, &matches).unwrap().as_deref(), Some("from-config"));
        // A token file on the command line wins over the config file's token.
        let (args, matches) =
            parse_with(Some(config.path()), &["statesync-hub", "--store", "sqlite:x.db", "--token-file", &path])
                .unwrap();
        assert_eq!(token(&args, &matches).unwrap().as_deref(), Some("s3cret"));
        // Both in the same place: ambiguous.
        let both = config_file(&format!("token = \"a\"\ntoken-file = {path:?}\n"));
        let (args, matches) = parse_with(Some(both.path()), &["statesync-hub", "--store", "sqlite:x.db"]).unwrap();
        assert!(token(&args, &matches).unwrap_err().0.contains("given twice"));

        let refused =
            parse(["statesync-hub", "--store", "sqlite:x.db", "--token", "hunter2"].map(OsString::from).to_vec());
        let UsageError(message) = refused.map(|_| ()).unwrap_err();
        assert!(message.contains("STATESYNC_HUB_TOKEN") && message.contains("--token-file"), "{message}");
        assert!(!message.contains("hunter2"), "the secret is not repeated: {message}");
        let refused =
            parse(["statesync-hub", "--store", "sqlite:x.db", "--token=hunter2"].map(OsString::from).to_vec());
        assert!(refused.is_err());
    }

    #[test]
    fn the_jwt_secret_and_a_store_password_never_come_from_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt").to_str().unwrap().to_owned();
        std::fs::write(&path, "k".repeat(32) + "\n").unwrap();
        let (args, matches) =
            parse_with(None, &["statesync-hub", "--store", "x", "--jwt-hs256-secret-file", &path]).unwrap();
        assert_eq!(jwt_secret(&args, &matches).unwrap(), Some("k".repeat(32)));
        let argv = ["statesync-hub", "--store", "x", "--jwt-hs256-secret=topsecret"];
        let UsageError(message) = parse(argv.map(OsString::from).to_vec()).map(|_| ()).unwrap_err();
        assert!(message.contains("STATESYNC_HUB_JWT_HS256_SECRET") && !message.contains("topsecret"), "{message}");
        let argv = ["statesync-hub", "--store", "postgres://hub:pw@127.0.0.1:5432/hub"];
        let UsageError(message) = parse(argv.map(OsString::from).to_vec()).map(|_| ()).unwrap_err();
        assert!(message.contains("STATESYNC_HUB_STORE") && !message.contains("pw@"), "{message}");
        assert!(!has_password("postgres://hub@127.0.0.1:5432/hub") && !has_password("sqlite:/a:b@c"));
        assert!(has_password("postgres://u:p@h/db"));
    }

    #[test]
    fn help_never_shows_the_token() {
        let config = config_file("token = \"cfgsecret\"\n");
        let help = command(Some(config.path())).unwrap().render_long_help().to_string();
        assert!(help.contains("--token") && !help.contains("cfgsecret"), "{help}");
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for ok in ["http://localhost:5173", "https://app.example.com", "http://127.0.0.1:8080"] {
            assert_eq!(origin(ok).as_deref(), Ok(ok));
        }
        for bad in ["app.example.com", "https://app.example.com/", "ftp://x", "http://", "*", "http://a b"] {
            assert!(origin(bad).is_err(), "{bad}");
        }
    }
}
