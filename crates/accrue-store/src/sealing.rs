//! Secrets that Accrue must use in clear later (webhook signing keys, tracker shared
//! secrets, the codes in queued messages) are stored sealed with the server's secret key
//! (ChaCha20-Poly1305), so a copy of the database alone does not reveal them.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use std::path::Path;

const PREFIX: &str = "v1:";

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Default for Sealer {
    /// A key of its own: fine for tests and for commands that seal nothing, not for data
    /// that must outlive the process.
    fn default() -> Sealer {
        let mut key = [0_u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Sealer::new(key)
    }
}

impl Sealer {
    pub fn new(key: [u8; 32]) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// A key given as base64 of 32 bytes (`ACCRUE_SECRET_KEY`).
    pub fn from_base64(text: &str) -> Result<Sealer, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| "the secret key is not base64".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "the secret key must be 32 bytes".to_string())?;
        Ok(Sealer::new(key))
    }

    /// Reads the key file, or creates it (readable by its owner only) with a new key.
    pub fn load_or_create(path: &Path) -> Result<Sealer, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Sealer::from_base64(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0_u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                write_private(path, &STANDARD.encode(key)).map_err(|e| format!("creating {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "created a new secret key file; keep it with the database backups");
                Ok(Sealer::new(key))
            }
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    pub fn seal(&self, plaintext: &str) -> String {
        let mut nonce = [0_u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("sealing cannot fail");
        format!("{PREFIX}{}", STANDARD.encode([nonce.as_slice(), &sealed].concat()))
    }

    pub fn open(&self, sealed: &str) -> Result<String, String> {
        let bad = || "a sealed secret cannot be opened with this server's secret key".to_string();
        let bytes = STANDARD
            .decode(sealed.strip_prefix(PREFIX).ok_or_else(bad)?)
            .map_err(|_| bad())?;
        if bytes.len() < 12 {
            return Err(bad());
        }
        let (nonce, data) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), data).map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let sealer = Sealer::new([7; 32]);
        let sealed = sealer.seal("whsec_abc");
        assert!(sealed.starts_with("v1:") && !sealed.contains("whsec_abc"));
        assert_ne!(sealed, sealer.seal("whsec_abc"), "a fresh nonce each time");
        assert_eq!(sealer.open(&sealed).unwrap(), "whsec_abc");
        assert!(Sealer::new([8; 32]).open(&sealed).is_err());
        assert!(sealer.open("v1:AAAA").is_err());
        assert!(sealer.open("plain").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accrue.key");
        let sealed = Sealer::load_or_create(&path).unwrap().seal("x");
        assert_eq!(Sealer::load_or_create(&path).unwrap().open(&sealed).unwrap(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::write(&path, "short").unwrap();
        assert!(Sealer::load_or_create(&path).is_err());
    }
}
