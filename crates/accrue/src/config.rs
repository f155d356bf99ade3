//! One configuration from three sources, strongest first: command-line flags,
//! `ACCRUE_*` environment variables, the optional TOML file, then defaults.

use accrue_core::outbox::DEFAULT_SCHEDULE;
use accrue_server::outbound::email::SmtpConfig;
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
    /// PostgreSQL connections the server keeps at most [default: 32]
    #[arg(long, env = "ACCRUE_DATABASE_CONNECTIONS", global = true)]
    pub database_connections: Option<u32>,
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
    /// Seconds a client has to send a request's headers; also ends idle connections [default: 10]
    #[arg(long, env = "ACCRUE_HEADER_TIMEOUT", global = true)]
    pub header_timeout: Option<u64>,
    /// Connections open at once; more are answered 503 [default: the open-file limit less 256]
    #[arg(long, env = "ACCRUE_MAX_CONNECTIONS", global = true)]
    pub max_connections: Option<usize>,
    /// Seconds requests in flight get to finish on shutdown before connections are dropped [default: 30]
    #[arg(long, env = "ACCRUE_SHUTDOWN_TIMEOUT", global = true)]
    pub shutdown_timeout: Option<u64>,
    /// Seconds between runs of the expiry job [default: 60]
    #[arg(long, env = "ACCRUE_EXPIRY_INTERVAL", global = true)]
    pub expiry_interval: Option<u64>,
    /// Whether this server delivers the outbox (`false` leaves it to others) [default: true]
    #[arg(long, env = "ACCRUE_DELIVERY", global = true)]
    pub delivery: Option<bool>,
    /// Internal addresses outbound requests may reach, comma-separated (`127.0.0.1,10.0.0.0/8`) [default: none]
    #[arg(long, env = "ACCRUE_OUTBOUND_ALLOW", global = true, value_delimiter = ',')]
    pub outbound_allow: Option<Vec<String>>,
    /// Seconds between delivery attempts, comma-separated [default: 5,300,1800,7200,18000,36000,36000]
    #[arg(long, env = "ACCRUE_RETRY_SCHEDULE", global = true, value_delimiter = ',')]
    pub retry_schedule: Option<Vec<i64>>,
    /// Seconds a delivery claim lasts; a server that dies frees its messages after it [default: 120]
    #[arg(long, env = "ACCRUE_DELIVERY_LEASE", global = true)]
    pub delivery_lease: Option<u64>,
    /// File with the key that seals stored secrets; created when missing [default: accrue.key].
    /// `ACCRUE_SECRET_KEY` (base64 of 32 bytes) takes its place when set.
    #[arg(long, env = "ACCRUE_SECRET_KEY_FILE", global = true)]
    pub secret_key_file: Option<PathBuf>,
    /// SMS gateway URL template with `{phone}` and `{text}`; without it SMS are only stored (log channel)
    #[arg(long, env = "ACCRUE_SMS_GATEWAY", global = true)]
    pub sms_gateway: Option<String>,
    /// Push gateway URL (gorush's `POST /api/push` JSON); without it pushes are only stored (log channel)
    #[arg(long, env = "ACCRUE_PUSH_GATEWAY", global = true)]
    pub push_gateway: Option<String>,
    /// The program the Loymax-compatible API serves [default: default]
    #[arg(long, env = "ACCRUE_LOYMAX_PROGRAM", global = true)]
    pub loymax_program: Option<String>,
}

/// The TOML file: the same settings, snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    database_url: Option<String>,
    database_connections: Option<u32>,
    listen: Option<String>,
    body_limit: Option<usize>,
    request_timeout: Option<u64>,
    header_timeout: Option<u64>,
    max_connections: Option<usize>,
    shutdown_timeout: Option<u64>,
    expiry_interval: Option<u64>,
    delivery: Option<bool>,
    outbound_allow: Option<Vec<String>>,
    retry_schedule: Option<Vec<i64>>,
    delivery_lease: Option<u64>,
    secret_key_file: Option<PathBuf>,
    sms_gateway: Option<String>,
    push_gateway: Option<String>,
    loymax_program: Option<String>,
    /// Without it e-mail is only stored (log channel). The password may come from
    /// `ACCRUE_SMTP_PASSWORD` instead of the file.
    smtp: Option<SmtpConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub database_url: String,
    /// `None`: [`accrue_store::DEFAULT_CONNECTIONS`].
    pub database_connections: Option<u32>,
    pub listen: String,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub header_timeout: Duration,
    /// `None`: derived from the open-file limit when serving.
    pub max_connections: Option<usize>,
    pub shutdown_timeout: Duration,
    pub expiry_interval: Duration,
    pub delivery: bool,
    pub outbound_allow: Vec<String>,
    pub retry_schedule: Vec<i64>,
    pub delivery_lease: Duration,
    pub secret_key_file: PathBuf,
    pub sms_gateway: Option<String>,
    pub push_gateway: Option<String>,
    pub smtp: Option<SmtpConfig>,
    pub loymax_program: String,
}

impl Config {
    pub fn load(flags: &Flags) -> anyhow::Result<Config> {
        let file: File = match &flags.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
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
            database_connections: flags.database_connections.or(file.database_connections),
            listen: flags
                .listen
                .clone()
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            body_limit: flags.body_limit.or(file.body_limit).unwrap_or(1024 * 1024),
            request_timeout: Duration::from_secs(flags.request_timeout.or(file.request_timeout).unwrap_or(30)),
            header_timeout: Duration::from_secs(flags.header_timeout.or(file.header_timeout).unwrap_or(10)),
            max_connections: flags.max_connections.or(file.max_connections),
            shutdown_timeout: Duration::from_secs(flags.shutdown_timeout.or(file.shutdown_timeout).unwrap_or(30)),
            expiry_interval: Duration::from_secs(flags.expiry_interval.or(file.expiry_interval).unwrap_or(60)),
            delivery: flags.delivery.or(file.delivery).unwrap_or(true),
            outbound_allow: flags.outbound_allow.clone().or(file.outbound_allow).unwrap_or_default(),
            retry_schedule: flags
                .retry_schedule
                .clone()
                .or(file.retry_schedule)
                .unwrap_or_else(|| DEFAULT_SCHEDULE.to_vec()),
            delivery_lease: Duration::from_secs(flags.delivery_lease.or(file.delivery_lease).unwrap_or(120)),
            secret_key_file: flags
                .secret_key_file
                .clone()
                .or(file.secret_key_file)
                .unwrap_or_else(|| "accrue.key".into()),
            sms_gateway: flags.sms_gateway.clone().or(file.sms_gateway),
            push_gateway: flags.push_gateway.clone().or(file.push_gateway),
            loymax_program: flags
                .loymax_program
                .clone()
                .or(file.loymax_program)
                .unwrap_or_else(|| "default".into()),
            smtp: file.smtp.map(|mut smtp| {
                if let Ok(password) = std::env::var("ACCRUE_SMTP_PASSWORD") {
                    smtp.password = Some(password);
                }
                smtp
            }),
        };
        anyhow::ensure!(
            !config.retry_schedule.is_empty() && config.retry_schedule.iter().all(|s| *s > 0),
            "retry_schedule must list at least one delay of 1 second or more"
        );
        anyhow::ensure!(
            config.delivery_lease.as_secs() >= 1,
            "delivery_lease must be at least 1 second"
        );
        anyhow::ensure!(
            !config.expiry_interval.is_zero(),
            "expiry_interval must be at least 1 second"
        );
        anyhow::ensure!(
            !config.header_timeout.is_zero(),
            "header_timeout must be at least 1 second"
        );
        anyhow::ensure!(
            config.database_connections.is_none_or(|n| n >= 1),
            "database_connections must be at least 1"
        );
        anyhow::ensure!(
            config.max_connections.is_none_or(|n| n >= 1),
            "max_connections must be at least 1"
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
            database_connections: None,
            config: None,
            listen: None,
            body_limit: None,
            request_timeout: None,
            header_timeout: None,
            max_connections: None,
            shutdown_timeout: None,
            expiry_interval: None,
            delivery: None,
            outbound_allow: None,
            retry_schedule: None,
            delivery_lease: None,
            secret_key_file: None,
            sms_gateway: None,
            push_gateway: None,
            loymax_program: None,
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

    #[test]
    fn database_connections_come_from_the_file_or_flags_and_zero_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accrue.toml");
        std::fs::write(&path, "database_connections = 6\n").unwrap();
        let from_file = Flags {
            config: Some(path.clone()),
            ..flags()
        };
        assert_eq!(Config::load(&from_file).unwrap().database_connections, Some(6));
        let flagged = Flags {
            database_connections: Some(12),
            ..from_file
        };
        assert_eq!(Config::load(&flagged).unwrap().database_connections, Some(12));
        assert_eq!(Config::load(&flags()).unwrap().database_connections, None);
        let zero = Flags {
            database_connections: Some(0),
            ..flags()
        };
        let err = Config::load(&zero).unwrap_err();
        assert!(err.to_string().contains("database_connections"), "{err:#}");
    }

    #[test]
    fn delivery_settings_come_from_the_file_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accrue.toml");
        let toml = "outbound_allow = [\"127.0.0.1\"]\nretry_schedule = [1, 2]\nsms_gateway = \"https://sms.example/?to={phone}\"\n\n\
                    [smtp]\nhost = \"smtp.example.com\"\ntls = \"tls\"\nusername = \"u\"\nfrom = \"A <a@example.com>\"\n";
        std::fs::write(&path, toml).unwrap();
        let c = Config::load(&Flags {
            config: Some(path.clone()),
            delivery: Some(false),
            ..flags()
        })
        .unwrap();
        assert_eq!((c.delivery, c.retry_schedule.as_slice()), (false, &[1_i64, 2][..]));
        assert_eq!(c.outbound_allow, vec!["127.0.0.1".to_string()]);
        assert_eq!(c.smtp.as_ref().map(|s| s.host.as_str()), Some("smtp.example.com"));
        assert!(c.sms_gateway.is_some());
        let zero = Flags {
            config: Some(path),
            retry_schedule: Some(vec![0]),
            ..flags()
        };
        assert!(Config::load(&zero).is_err(), "a zero delay is refused");
        let defaults = Config::load(&flags()).unwrap();
        assert_eq!(
            (defaults.delivery, defaults.retry_schedule.len(), defaults.smtp),
            (true, 7, None)
        );
    }
}
