//! The e-mail channel: confirmation codes and messages go out by SMTP.
//!
//! [`Mailer::send`] opens one SMTP session per message (greeting, EHLO, STARTTLS or
//! implicit TLS, AUTH, MAIL FROM, RCPT TO, DATA, QUIT) with lettre's public
//! [`AsyncSmtpConnection`], step by step, so that a failure says which step failed
//! ("the SMTP server rejected the recipient <x@example.com>: permanent error (550): no
//! such user") and every step is bounded by the configured timeout. (lettre's own
//! `AsyncSmtpTransport` applies its timeout to the TCP connect only, and its errors do
//! not tell a refused sender from a refused recipient.)
//!
//! Messages are plain text in UTF-8; lettre writes non-ASCII subjects as RFC 2047
//! encoded-words and non-ASCII bodies as quoted-printable, so the raw message is 7-bit
//! and needs no 8BITMIME from the server.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::{Address, Message};

/// Seconds one SMTP step (connect, a command, the message) may take when the
/// configuration does not say.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 10;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text throughout. Only for a relay on the same host or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS, which is required: a server that does
    /// not offer it gets neither credentials nor mail. Default port 587.
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS", implicit TLS). Default port 465.
    Tls,
}

impl SmtpTls {
    /// The usual port for this mode: 25, 587 or 465.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// How to reach the SMTP server (from Accrue's configuration).
///
/// In a configuration file `port` may be left out (it then follows `tls`: 25, 587 or
/// 465), `tls` may be left out (`"starttls"`), and unknown keys are refused.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(from = "SmtpConfigFile")]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    /// A secret: never logged, never in `Debug` output, never in an error.
    pub password: Option<String>,
    /// The sender, e.g. `Accrue <noreply@example.com>`.
    pub from: String,
    /// Seconds one SMTP step may take; [`DEFAULT_TIMEOUT_SECONDS`] when `None`.
    pub timeout_seconds: Option<u64>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .field("from", &self.from)
            .field("timeout_seconds", &self.timeout_seconds)
            .finish()
    }
}

/// Stands in for a secret in `Debug` output.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// [`SmtpConfig`] as written in a configuration file, before the defaults.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpConfigFile {
    host: String,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    tls: SmtpTls,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    from: String,
    #[serde(default)]
    timeout_seconds: Option<u64>,
}

impl From<SmtpConfigFile> for SmtpConfig {
    fn from(file: SmtpConfigFile) -> SmtpConfig {
        SmtpConfig {
            port: file.port.unwrap_or_else(|| file.tls.default_port()),
            host: file.host,
            tls: file.tls,
            username: file.username,
            password: file.password,
            from: file.from,
            timeout_seconds: file.timeout_seconds,
        }
    }
}

/// Sends plain-text e-mail through one SMTP server; cheap to share (`Arc`) between tasks.
pub struct Mailer {
    host: String,
    port: u16,
    tls: SmtpTls,
    /// Certificate checking against the host name; `None` when `tls` is `None`.
    tls_parameters: Option<TlsParameters>,
    credentials: Option<(String, Credentials)>,
    /// Only to scrub it from error texts.
    password: Option<String>,
    from: Mailbox,
    hello_name: ClientId,
    timeout: Duration,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.credentials.as_ref().map(|(user, _)| user))
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an SMTP session failed, and whether the connection is still worth a QUIT.
struct Failure {
    message: String,
    timed_out: bool,
}

impl Mailer {
    /// Validates the config (parsable `from` mailbox, non-empty host) and builds the transport; no connection yet.
    pub fn new(config: &SmtpConfig) -> Result<Mailer, String> {
        let host = config.host.trim();
        if host.is_empty() {
            return Err("smtp host is empty".to_owned());
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("smtp host {host:?} is not a host name"));
        }
        if config.port == 0 {
            return Err("smtp port 0 is not a port".to_owned());
        }
        let from: Mailbox = config
            .from
            .trim()
            .parse()
            .map_err(|e| format!("invalid smtp sender (from) {:?}: {e}", config.from))?;
        let timeout = match config.timeout_seconds {
            None => Duration::from_secs(DEFAULT_TIMEOUT_SECONDS),
            Some(0) => return Err("smtp timeout_seconds must be at least 1".to_owned()),
            Some(seconds) => Duration::from_secs(seconds),
        };
        let credentials = match (&config.username, &config.password) {
            (None, None) => None,
            (Some(user), Some(password)) => Some((user.clone(), Credentials::new(user.clone(), password.clone()))),
            (Some(_), None) => return Err("smtp username is set but password is not".to_owned()),
            (None, Some(_)) => return Err("smtp password is set but username is not".to_owned()),
        };
        let tls_parameters = match config.tls {
            SmtpTls::None => None,
            SmtpTls::Starttls | SmtpTls::Tls => Some(
                TlsParameters::new(host.to_owned())
                    .map_err(|e| format!("invalid TLS settings for smtp host {host:?}: {e}"))?,
            ),
        };
        if config.tls == SmtpTls::None && credentials.is_some() {
            tracing::warn!(
                host,
                port = config.port,
                "smtp credentials will be sent over a connection without TLS"
            );
        }
        Ok(Mailer {
            host: host.to_owned(),
            port: config.port,
            tls: config.tls,
            tls_parameters,
            credentials,
            password: config.password.clone().filter(|p| !p.is_empty()),
            from,
            hello_name: ClientId::default(),
            timeout,
        })
    }

    /// Sends a plain-text UTF-8 message. Errors come back as text that says what failed
    /// (connection refused, rejected recipient 550 ..., authentication failed), without
    /// the password.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        let recipient: Mailbox = to
            .trim()
            .parse()
            .map_err(|e| format!("invalid recipient {to:?}: {e}"))?;
        // A line break in a subject would end the header; it is never meant.
        let subject: String = subject
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        let message = Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(subject)
            .message_id(Some(self.message_id()))
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| format!("could not build the e-mail: {e}"))?;
        let envelope = message.envelope();
        let sender = envelope.from().cloned();
        let recipients = envelope.to().to_vec();
        let raw = message.formatted();
        self.deliver(sender, &recipients, &raw).await.map_err(|e| self.scrub(e))
    }

    async fn deliver(&self, sender: Option<Address>, recipients: &[Address], raw: &[u8]) -> Result<(), String> {
        let wrapper = match self.tls {
            SmtpTls::Tls => self.tls_parameters.clone(),
            SmtpTls::None | SmtpTls::Starttls => None,
        };
        let mut conn = self
            .step(
                format!("could not connect to the SMTP server {}:{}", self.host, self.port),
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &self.hello_name,
                    wrapper,
                    None,
                ),
            )
            .await
            .map_err(|failure| failure.message)?;
        match self.session(&mut conn, sender, recipients, raw).await {
            Ok(()) => {
                // The message is accepted; a failing QUIT changes nothing.
                let _ = tokio::time::timeout(self.timeout, conn.quit()).await;
                Ok(())
            }
            Err(failure) => {
                if !failure.timed_out {
                    let _ = tokio::time::timeout(self.timeout, conn.abort()).await;
                }
                Err(failure.message)
            }
        }
    }

    async fn session(
        &self,
        conn: &mut AsyncSmtpConnection,
        sender: Option<Address>,
        recipients: &[Address],
        raw: &[u8],
    ) -> Result<(), Failure> {
        if self.tls == SmtpTls::Starttls {
            let Some(parameters) = self.tls_parameters.clone() else {
                unreachable!("Mailer::new builds TLS parameters for starttls");
            };
            self.step(
                format!("STARTTLS with the SMTP server {}:{} failed", self.host, self.port),
                conn.starttls(parameters, &self.hello_name),
            )
            .await?;
        }
        if let Some((user, credentials)) = &self.credentials {
            self.step(
                format!("SMTP authentication as {user:?} failed"),
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?;
        }

        let mut parameters = Vec::new();
        let non_ascii_address = sender.iter().chain(recipients).any(|address| {
            let text: &str = address.as_ref();
            !text.is_ascii()
        });
        if non_ascii_address {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err(Failure {
                    message: "the SMTP server does not support SMTPUTF8, which non-ASCII addresses need".to_owned(),
                    timed_out: false,
                });
            }
            parameters.push(MailParameter::SmtpUtfEight);
        }
        if !raw.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err(Failure {
                    message: "the SMTP server does not support 8BITMIME, which this message needs".to_owned(),
                    timed_out: false,
                });
            }
            parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }

        let sender_text = sender.as_ref().map_or_else(|| "<>".to_owned(), |a| format!("<{a}>"));
        self.step(
            format!("the SMTP server rejected the sender {sender_text}"),
            conn.command(Mail::new(sender, parameters)),
        )
        .await?;
        for recipient in recipients {
            self.step(
                format!("the SMTP server rejected the recipient <{recipient}>"),
                conn.command(Rcpt::new(recipient.clone(), Vec::new())),
            )
            .await?;
        }
        self.step("the SMTP server refused DATA".to_owned(), conn.command(Data))
            .await?;
        self.step("the SMTP server rejected the message".to_owned(), conn.message(raw))
            .await?;
        Ok(())
    }

    /// Runs one SMTP step within the timeout; a failure reads "`what`: cause".
    async fn step<T>(
        &self,
        what: String,
        step: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, step).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Failure {
                message: format!("{what}: {e}"),
                timed_out: e.is_timeout(),
            }),
            Err(_) => Err(Failure {
                message: format!("{what}: timed out after {}s", self.timeout.as_secs()),
                timed_out: true,
            }),
        }
    }

    /// A fresh `<random@sender-domain>`: the sender's domain rather than this machine's
    /// name (lettre's default), which may be a container's id.
    fn message_id(&self) -> String {
        format!("<{:032x}@{}>", rand::random::<u128>(), self.from.email.domain())
    }

    /// Removes the password from an error text, whatever the server echoed.
    fn scrub(&self, message: String) -> String {
        match &self.password {
            Some(password) if message.contains(password.as_str()) => message.replace(password.as_str(), "<redacted>"),
            _ => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    /// Every test gives up after this long, whatever the SMTP exchange does.
    const TEST_LIMIT: Duration = Duration::from_secs(20);

    /// What one SMTP session with the test server carried.
    #[derive(Debug, Default, Clone)]
    struct Session {
        ehlo: Option<String>,
        auth: Option<(String, String)>,
        mail_from: Option<String>,
        rcpt_to: Vec<String>,
        data: Option<String>,
        quit: bool,
    }

    /// How the test server behaves.
    #[derive(Clone, Default)]
    struct Behaviour {
        /// Recipients answered `550 no such user`.
        reject: Vec<String>,
        /// The only user and password AUTH accepts; AUTH is refused when `None`.
        credentials: Option<(String, String)>,
        /// What EHLO advertises after `AUTH`.
        mechanisms: &'static str,
    }

    struct TestServer {
        addr: SocketAddr,
        sessions: Arc<Mutex<Vec<Session>>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    impl TestServer {
        async fn start(behaviour: Behaviour) -> TestServer {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let sessions = Arc::new(Mutex::new(Vec::new()));
            let recorded = Arc::clone(&sessions);
            let task = tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let behaviour = behaviour.clone();
                    let recorded = Arc::clone(&recorded);
                    tokio::spawn(async move {
                        let mut session = Session::default();
                        let _ = tokio::time::timeout(TEST_LIMIT, serve(stream, &behaviour, &mut session)).await;
                        recorded.lock().unwrap().push(session);
                    });
                }
            });
            TestServer { addr, sessions, task }
        }

        fn config(&self) -> SmtpConfig {
            SmtpConfig {
                host: "127.0.0.1".to_owned(),
                port: self.addr.port(),
                tls: SmtpTls::None,
                username: None,
                password: None,
                from: "Accrue <noreply@example.com>".to_owned(),
                timeout_seconds: Some(5),
            }
        }

        /// The sessions so far, once the server has finished recording them.
        async fn sessions(&self, expected: usize) -> Vec<Session> {
            for _ in 0..200 {
                let sessions = self.sessions.lock().unwrap().clone();
                if sessions.len() >= expected {
                    return sessions;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the test server recorded fewer than {expected} sessions");
        }
    }

    /// Just enough SMTP (RFC 5321, AUTH PLAIN and LOGIN) for lettre without TLS.
    async fn serve(stream: TcpStream, behaviour: &Behaviour, session: &mut Session) {
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        writer.write_all(b"220 localhost ESMTP test\r\n").await.unwrap();
        loop {
            let Some(line) = read_line(&mut reader).await else {
                return;
            };
            let upper = line.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO ") || upper.starts_with("HELO ") {
                session.ehlo = Some(line[5..].to_owned());
                format!(
                    "250-localhost\r\n250-SIZE 1000000\r\n250 AUTH {}\r\n",
                    behaviour.mechanisms
                )
            } else if upper.starts_with("AUTH PLAIN") {
                let initial = line[10..].trim().to_owned();
                let encoded = if initial.is_empty() {
                    writer.write_all(b"334 \r\n").await.unwrap();
                    match read_line(&mut reader).await {
                        Some(encoded) => encoded,
                        None => return,
                    }
                } else {
                    initial
                };
                let decoded = String::from_utf8(base64_decode(&encoded)).unwrap();
                let mut parts = decoded.split('\0').skip(1);
                let user = parts.next().unwrap_or_default().to_owned();
                let password = parts.next().unwrap_or_default().to_owned();
                auth_reply(behaviour, session, user, password)
            } else if upper.starts_with("AUTH LOGIN") {
                writer.write_all(b"334 VXNlcm5hbWU6\r\n").await.unwrap();
                let Some(user) = read_line(&mut reader).await else {
                    return;
                };
                writer.write_all(b"334 UGFzc3dvcmQ6\r\n").await.unwrap();
                let Some(password) = read_line(&mut reader).await else {
                    return;
                };
                let user = String::from_utf8(base64_decode(&user)).unwrap();
                let password = String::from_utf8(base64_decode(&password)).unwrap();
                auth_reply(behaviour, session, user, password)
            } else if upper.starts_with("MAIL FROM:") {
                session.mail_from = Some(line[10..].to_owned());
                "250 2.1.0 ok\r\n".to_owned()
            } else if upper.starts_with("RCPT TO:") {
                let recipient = line[8..].trim().to_owned();
                let address = recipient.trim_start_matches('<').trim_end_matches('>');
                if behaviour.reject.iter().any(|r| r == address) {
                    "550 no such user\r\n".to_owned()
                } else {
                    session.rcpt_to.push(recipient);
                    "250 2.1.5 ok\r\n".to_owned()
                }
            } else if upper == "DATA" {
                writer
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await
                    .unwrap();
                let mut data = String::new();
                loop {
                    let Some(line) = read_line(&mut reader).await else {
                        return;
                    };
                    if line == "." {
                        break;
                    }
                    // Undo dot-stuffing.
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    data.push_str("\r\n");
                }
                session.data = Some(data);
                "250 2.0.0 queued\r\n".to_owned()
            } else if upper == "RSET" || upper == "NOOP" {
                "250 ok\r\n".to_owned()
            } else if upper == "QUIT" {
                session.quit = true;
                writer.write_all(b"221 bye\r\n").await.unwrap();
                return;
            } else {
                "502 command not implemented\r\n".to_owned()
            };
            if writer.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }

    fn auth_reply(behaviour: &Behaviour, session: &mut Session, user: String, password: String) -> String {
        let accepted = behaviour.credentials.as_ref() == Some(&(user.clone(), password.clone()));
        session.auth = Some((user, password));
        if accepted {
            "235 2.7.0 authentication successful\r\n".to_owned()
        } else {
            "535 5.7.8 authentication credentials invalid\r\n".to_owned()
        }
    }

    /// One line without its CRLF; `None` at the end of the stream. Lines must be ASCII,
    /// as lettre's messages are.
    async fn read_line(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                assert!(line.is_ascii(), "non-ASCII line from lettre: {line:?}");
                let line = String::from_utf8(line).unwrap();
                Some(line.trim_end_matches(['\r', '\n']).to_owned())
            }
        }
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = Vec::new();
        let mut buffer = 0u32;
        let mut bits = 0;
        for byte in text.bytes().filter(|b| !b.is_ascii_whitespace() && *b != b'=') {
            let value = ALPHABET
                .iter()
                .position(|&a| a == byte)
                .unwrap_or_else(|| panic!("not base64: {text:?}")) as u32;
            buffer = (buffer << 6) | value;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((buffer >> bits) as u8);
                buffer &= (1 << bits) - 1;
            }
        }
        out
    }

    fn hex_value(byte: u8) -> u8 {
        (byte as char).to_digit(16).unwrap_or_else(|| panic!("not hex: {byte}")) as u8
    }

    /// Quoted-printable (RFC 2045), or the Q encoding of RFC 2047 when `q_underscores`.
    fn quoted_printable_decode(text: &str, q_underscores: bool) -> Vec<u8> {
        let text = text.replace("=\r\n", "");
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'=' => {
                    out.push(hex_value(bytes[i + 1]) * 16 + hex_value(bytes[i + 2]));
                    i += 3;
                }
                b'_' if q_underscores => {
                    out.push(b' ');
                    i += 1;
                }
                byte => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        out
    }

    /// Decodes a header value with RFC 2047 encoded-words (`=?utf-8?b?...?=`,
    /// `=?utf-8?q?...?=`); white space between two encoded-words is dropped.
    fn decode_rfc2047(value: &str) -> String {
        let mut out = Vec::new();
        let mut pending_space = Vec::new();
        let mut previous_was_word = false;
        let mut rest = value;
        while !rest.is_empty() {
            let encoded = rest.strip_prefix("=?").and_then(|inner| {
                let mut parts = inner.splitn(3, '?');
                let charset = parts.next()?;
                let encoding = parts.next()?;
                let tail = parts.next()?;
                let end = tail.find("?=")?;
                Some((charset, encoding, &tail[..end], &tail[end + 2..]))
            });
            if let Some((charset, encoding, text, after)) = encoded {
                assert!(charset.eq_ignore_ascii_case("utf-8"), "charset {charset}");
                if !previous_was_word {
                    out.append(&mut pending_space);
                }
                pending_space.clear();
                if encoding.eq_ignore_ascii_case("b") {
                    out.extend(base64_decode(text));
                } else {
                    out.extend(quoted_printable_decode(text, true));
                }
                previous_was_word = true;
                rest = after;
            } else {
                let c = rest.chars().next().unwrap();
                if c.is_whitespace() {
                    pending_space.extend(c.to_string().bytes());
                } else {
                    out.append(&mut pending_space);
                    out.extend(c.to_string().bytes());
                    previous_was_word = false;
                }
                rest = &rest[c.len_utf8()..];
            }
        }
        out.append(&mut pending_space);
        String::from_utf8(out).expect("the decoded header is UTF-8")
    }

    /// The headers of a raw message (folded lines joined) and its body.
    fn parse_message(raw: &str) -> (Vec<(String, String)>, String) {
        let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                headers.last_mut().expect("a folded first line").1 += line;
            } else {
                let (name, value) = line.split_once(':').expect("a header line");
                headers.push((name.to_owned(), value.trim_start().to_owned()));
            }
        }
        (headers, body.to_owned())
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
    }

    fn decode_body(headers: &[(String, String)], body: &str) -> String {
        let encoding = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"))
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_else(|| "7bit".to_owned());
        let bytes = match encoding.as_str() {
            "quoted-printable" => quoted_printable_decode(body, false),
            "base64" => base64_decode(body),
            _ => body.as_bytes().to_vec(),
        };
        String::from_utf8(bytes).expect("the body is UTF-8")
    }

    async fn bounded<F: Future>(future: F) -> F::Output {
        tokio::time::timeout(TEST_LIMIT, future)
            .await
            .expect("the test took too long")
    }

    fn plain_server() -> Behaviour {
        Behaviour {
            mechanisms: "PLAIN LOGIN",
            ..Behaviour::default()
        }
    }

    #[tokio::test]
    async fn sends_a_cyrillic_message_intact() {
        let server = TestServer::start(plain_server()).await;
        let mailer = Mailer::new(&server.config()).unwrap();
        let subject = "Код подтверждения: 123456";
        let body = "Здравствуйте!\nВаш код подтверждения: 123456\nЕсли это были не вы, ничего не делайте.\n.точка в начале строки\n";
        bounded(mailer.send("Анна <anna@example.org>", subject, body))
            .await
            .unwrap();

        let sessions = server.sessions(1).await;
        let session = &sessions[0];
        assert!(session.ehlo.is_some());
        assert_eq!(session.auth, None, "no credentials, no AUTH");
        assert_eq!(session.mail_from.as_deref(), Some("<noreply@example.com>"));
        assert_eq!(session.rcpt_to, vec!["<anna@example.org>".to_owned()]);
        assert!(session.quit, "the session ends with QUIT");

        let raw = session.data.as_deref().expect("a message");
        let (headers, encoded_body) = parse_message(raw);
        assert_eq!(decode_rfc2047(header(&headers, "From")), "Accrue <noreply@example.com>");
        assert_eq!(decode_rfc2047(header(&headers, "To")), "Анна <anna@example.org>");
        let message_id = header(&headers, "Message-ID");
        assert!(
            message_id.starts_with('<') && message_id.ends_with("@example.com>"),
            "{message_id}"
        );
        let raw_subject = header(&headers, "Subject");
        assert!(raw_subject.is_ascii() && raw_subject.contains("=?"));
        assert_eq!(decode_rfc2047(raw_subject), subject);
        assert!(header(&headers, "Content-Type")
            .to_ascii_lowercase()
            .starts_with("text/plain; charset=utf-8"));
        let decoded = decode_body(&headers, encoded_body.strip_suffix("\r\n").unwrap());
        assert_eq!(decoded, body.replace('\n', "\r\n"));
        assert!(decoded.contains("Ваш код подтверждения: 123456"));
    }

    #[tokio::test]
    async fn authenticates_with_plain_and_with_login() {
        for mechanisms in ["PLAIN LOGIN", "LOGIN"] {
            let server = TestServer::start(Behaviour {
                credentials: Some(("accrue".to_owned(), "s3cret pass".to_owned())),
                mechanisms,
                ..Behaviour::default()
            })
            .await;
            let mut config = server.config();
            config.username = Some("accrue".to_owned());
            config.password = Some("s3cret pass".to_owned());
            let mailer = Mailer::new(&config).unwrap();
            let body = "Code 654321\n.a line that starts with a dot\n..and two\n";
            bounded(mailer.send("bob@example.org", "Hello", body))
                .await
                .unwrap_or_else(|e| panic!("{mechanisms}: {e}"));
            let sessions = server.sessions(1).await;
            assert_eq!(
                sessions[0].auth,
                Some(("accrue".to_owned(), "s3cret pass".to_owned())),
                "{mechanisms}"
            );
            let (headers, encoded) = parse_message(sessions[0].data.as_deref().unwrap());
            assert_eq!(header(&headers, "Subject"), "Hello");
            assert_eq!(header(&headers, "Content-Transfer-Encoding"), "7bit");
            assert_eq!(
                decode_body(&headers, &encoded).trim_end_matches("\r\n"),
                "Code 654321\r\n.a line that starts with a dot\r\n..and two"
            );
        }
    }

    #[tokio::test]
    async fn wrong_password_is_an_authentication_error_without_the_password() {
        let server = TestServer::start(Behaviour {
            credentials: Some(("accrue".to_owned(), "right".to_owned())),
            mechanisms: "PLAIN LOGIN",
            ..Behaviour::default()
        })
        .await;
        let mut config = server.config();
        config.username = Some("accrue".to_owned());
        config.password = Some("wrong-Pa55".to_owned());
        let mailer = Mailer::new(&config).unwrap();
        let error = bounded(mailer.send("bob@example.org", "Hi", "text")).await.unwrap_err();
        assert!(error.contains("authentication"), "{error}");
        assert!(error.contains("535"), "{error}");
        assert!(!error.contains("wrong-Pa55"), "{error}");
        let sessions = server.sessions(1).await;
        assert_eq!(sessions[0].mail_from, None, "no mail after a failed AUTH");
        assert!(sessions[0].quit, "QUIT after a failure");
    }

    #[tokio::test]
    async fn rejected_recipient_is_an_error_with_the_code() {
        let server = TestServer::start(Behaviour {
            reject: vec!["nobody@example.org".to_owned()],
            ..plain_server()
        })
        .await;
        let mailer = Mailer::new(&server.config()).unwrap();
        let error = bounded(mailer.send("nobody@example.org", "Код", "123456"))
            .await
            .unwrap_err();
        assert!(error.contains("550"), "{error}");
        assert!(error.contains("recipient"), "{error}");
        assert!(error.contains("nobody@example.org"), "{error}");
        assert!(error.contains("no such user"), "{error}");
        let sessions = server.sessions(1).await;
        assert_eq!(sessions[0].data, None, "no DATA after a refused recipient");
    }

    #[tokio::test]
    async fn connection_refused_is_an_error() {
        // Bind to learn a free port, then close it so nothing listens there.
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let mailer = Mailer::new(&SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "noreply@example.com".to_owned(),
            timeout_seconds: Some(2),
        })
        .unwrap();
        let error = bounded(mailer.send("bob@example.org", "Hi", "text")).await.unwrap_err();
        assert!(error.contains("could not connect"), "{error}");
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        // Accepts the connection but never greets.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let mailer = Mailer::new(&SmtpConfig {
            host: "127.0.0.1".to_owned(),
            port,
            tls: SmtpTls::None,
            username: None,
            password: None,
            from: "noreply@example.com".to_owned(),
            timeout_seconds: Some(1),
        })
        .unwrap();
        let started = std::time::Instant::now();
        let error = bounded(mailer.send("bob@example.org", "Hi", "text")).await.unwrap_err();
        task.abort();
        assert!(error.contains("timed out"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    }

    #[tokio::test]
    async fn invalid_recipient_is_refused_before_connecting() {
        let server = TestServer::start(plain_server()).await;
        let mailer = Mailer::new(&server.config()).unwrap();
        for to in ["", "not an address", "bob@", "bob@example.org\r\nBcc: eve@example.org"] {
            let error = bounded(mailer.send(to, "Hi", "text")).await.unwrap_err();
            assert!(error.starts_with("invalid recipient"), "{to:?}: {error}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(server.sessions.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_line_break_in_the_subject_adds_no_header() {
        let server = TestServer::start(plain_server()).await;
        let mailer = Mailer::new(&server.config()).unwrap();
        bounded(mailer.send("bob@example.org", "Hi\r\nBcc: eve@example.org", "text"))
            .await
            .unwrap();
        let sessions = server.sessions(1).await;
        let (headers, _) = parse_message(sessions[0].data.as_deref().unwrap());
        assert!(headers.iter().all(|(name, _)| !name.eq_ignore_ascii_case("bcc")));
        assert_eq!(sessions[0].rcpt_to, vec!["<bob@example.org>".to_owned()]);
    }

    fn valid_config() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".to_owned(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: Some("accrue".to_owned()),
            password: Some("hunter2-very-secret".to_owned()),
            from: "Accrue <noreply@example.com>".to_owned(),
            timeout_seconds: None,
        }
    }

    #[test]
    fn new_refuses_a_bad_config() {
        for from in ["", "Accrue", "Accrue <noreply>", "noreply@", "<@example.com>"] {
            let config = SmtpConfig {
                from: from.to_owned(),
                ..valid_config()
            };
            let error = Mailer::new(&config).unwrap_err();
            assert!(error.contains("from"), "{from:?}: {error}");
        }
        let no_host = SmtpConfig {
            host: "  ".to_owned(),
            ..valid_config()
        };
        assert!(Mailer::new(&no_host).unwrap_err().contains("host"));
        let half_credentials = SmtpConfig {
            password: None,
            ..valid_config()
        };
        assert!(Mailer::new(&half_credentials).is_err());
        let zero_timeout = SmtpConfig {
            timeout_seconds: Some(0),
            ..valid_config()
        };
        assert!(Mailer::new(&zero_timeout).is_err());
    }

    #[test]
    fn new_accepts_every_tls_mode_without_connecting() {
        for tls in [SmtpTls::None, SmtpTls::Starttls, SmtpTls::Tls] {
            let config = SmtpConfig {
                tls,
                port: tls.default_port(),
                ..valid_config()
            };
            let mailer = Mailer::new(&config).unwrap();
            let debug = format!("{mailer:?}");
            assert!(!debug.contains("hunter2"), "{debug}");
        }
        let bare = SmtpConfig {
            from: "noreply@example.com".to_owned(),
            username: None,
            password: None,
            ..valid_config()
        };
        Mailer::new(&bare).unwrap();
    }

    #[test]
    fn debug_hides_the_password() {
        let debug = format!("{:?}", valid_config());
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(debug.contains("smtp.example.com"), "{debug}");
        let pretty = format!("{:#?}", valid_config());
        assert!(!pretty.contains("hunter2"), "{pretty}");
    }

    #[test]
    fn config_deserializes_with_defaults() {
        let config: SmtpConfig = serde_json::from_value(serde_json::json!({
            "host": "smtp.example.com",
            "tls": "tls",
            "username": "accrue",
            "password": "pw",
            "from": "Accrue <noreply@example.com>"
        }))
        .unwrap();
        assert_eq!(config.port, 465);
        assert_eq!(config.tls, SmtpTls::Tls);
        assert_eq!(config.timeout_seconds, None);

        let config: SmtpConfig = serde_json::from_value(serde_json::json!({
            "host": "localhost",
            "port": 2525,
            "tls": "none",
            "from": "noreply@example.com",
            "timeout_seconds": 3
        }))
        .unwrap();
        assert_eq!((config.port, config.tls), (2525, SmtpTls::None));
        assert_eq!(config.timeout_seconds, Some(3));

        let config: SmtpConfig = serde_json::from_value(serde_json::json!({
            "host": "smtp.example.com",
            "from": "noreply@example.com"
        }))
        .unwrap();
        assert_eq!((config.port, config.tls), (587, SmtpTls::Starttls));

        for bad in [
            serde_json::json!({"host": "h", "from": "a@b.c", "tls": "STARTTLS"}),
            serde_json::json!({"host": "h", "from": "a@b.c", "tls": "ssl"}),
            serde_json::json!({"host": "h", "from": "a@b.c", "pasword": "typo"}),
            serde_json::json!({"host": "h"}),
        ] {
            assert!(serde_json::from_value::<SmtpConfig>(bad.clone()).is_err(), "{bad}");
        }
    }
}
