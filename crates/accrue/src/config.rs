//! One configuration from three sources, strongest first: command-line flags,
//! `ACCRUE_*` environment variables, the optional TOML file, then defaults.

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Args)]
pub struct Flags {
    /// `sqlite://PATH` or `postgres://…` [default: sqlite://accrue.db]
    #[arg(long, env = "ACCRUE_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// A TOML file with any of the settings below.
    #[arg(long, env = "ACCRUE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "ACCRUE_LISTEN", global = true)]
    pub listen: Option<String>,
    /// Largest request body in bytes [default: 1048576]
    #[arg(long, env = "ACCRUE_BODY_LIMIT", global = true)]
    pub body_limit: Option<usize>,
    /// Seconds before a request is answered 408 [default: 30]
    #[arg(long, env = "ACCRUE_REQUEST_TIMEOUT", global = true)]
    pub request_timeout: Option<u64>,
    /// Seconds between runs of the expiry job [default: 60]
    #[arg(long, env = "ACCRUE_EXPIRY_INTERVAL", global = true)]
    pub expiry_interval: Option<u64>,
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    database_url: Option<String>,
    listen: Option<String>,
    body_limit: Option<usize>,
    request_timeout: Option<u64>,
    expiry_interval: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub database_url: String,
    pub listen: String,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub expiry_interval: Duration,
}

impl Config {
    pub fn load(flags: &Flags) -> anyhow::Result<Config> {
        let file: File = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => File::default(),
        };
        let config = Config {
            database_url: flags
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| "sqlite://accrue.db".into()),
            listen: flags
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            body_limit: flags.body_limit.or(file.body_limit).unwrap_or(1024 * 1024),
            request_timeout: Duration::from_secs(
                flags.request_timeout.or(file.request_timeout).unwrap_or(30),
            ),
            expiry_interval: Duration::from_secs(
                flags.expiry_interval.or(file.expiry_interval).unwrap_or(60),
            ),
        };
        anyhow::ensure!(
            !config.expiry_interval.is_zero(),
            "expiry_interval must be at least 1 second"
        );
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags() -> Flags {
        Flags {
            database_url: None,
            config: None,
            listen: None,
            body_limit: None,
            request_timeout: None,
            expiry_interval: None,
        }
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::load(&flags()).unwrap();
        assert_eq!(c.database_url, "sqlite://accrue.db");
        assert_eq!(c.listen, "127.0.0.1:8080");
    }

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accrue.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\ndatabase_url = \"sqlite://x.db\"\nbody_limit = 10\n",
        )
        .unwrap();
        let f = Flags {
            config: Some(path.clone()),
            listen: Some("127.0.0.1:1".into()),
            ..flags()
        };
        let c = Config::load(&f).unwrap();
        assert_eq!(
            (c.listen.as_str(), c.database_url.as_str(), c.body_limit),
            ("127.0.0.1:1", "sqlite://x.db", 10)
        );
        std::fs::write(&path, "lissten = 1\n").unwrap();
        let err = Config::load(&Flags {
            config: Some(path),
            ..flags()
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("lissten"), "{err:#}");
    }
}
