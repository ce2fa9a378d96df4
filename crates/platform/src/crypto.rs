//! Random secrets, keyed hashes and signatures. Every secret handed to a person (session ids,
//! API tokens, reset links, integration keys) is random, shown once and stored only as a keyed hash.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters from [A-Za-z0-9], uniformly distributed (≈5.95 bits each).
pub fn random_token(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the operating system's random source failed");
        for &byte in &buf {
            // 248 = 62 * 4: reject the tail so every character is equally likely.
            if byte < 248 && out.len() < len {
                out.push(ALPHANUMERIC[(byte % 62) as usize] as char);
            }
        }
    }
    out
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).expect("the operating system's random source failed");
    buf
}

/// The server's master secret. Sub-keys are derived per purpose so one leak does not
/// unlock another use.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    pub const MIN_CONFIGURED_CHARS: usize = 32;

    /// From an operator-supplied string (`KEEL_SECRET_KEY`): any text of at least 32 characters.
    pub fn from_config(text: &str) -> Result<Self, String> {
        if text.chars().count() < Self::MIN_CONFIGURED_CHARS {
            return Err(format!(
                "must be at least {} characters (generate one with `openssl rand -hex 32`)",
                Self::MIN_CONFIGURED_CHARS
            ));
        }
        let mut mac = HmacSha256::new_from_slice(b"keel secret key").expect("any key length");
        mac.update(text.as_bytes());
        Ok(Self(mac.finalize().into_bytes().into()))
    }

    /// Reads the key file in the data directory, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_config(text.trim())
                .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let text = hex::encode(random_bytes::<32>());
                write_private_file(path, text.as_bytes())?;
                Self::from_config(&text).map_err(std::io::Error::other)
            }
            Err(err) => Err(err),
        }
    }

    /// A sub-key for one purpose.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Keyed hash of a high-entropy token, hex encoded: what the database stores.
    pub fn hash_token(&self, purpose: &str, token: &str) -> String {
        hex::encode(self.sign(purpose, token.as_bytes()))
    }

    pub fn sign(&self, purpose: &str, message: &[u8]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.derive(purpose)).expect("any key length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// Encrypts and authenticates `plaintext` for storage (credentials the server must use
    /// later, queued messages that carry links): XChaCha20-Poly1305 under a sub-key for
    /// `purpose`, a random nonce, text of the form `v1.<base64url>`.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> String {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, KeyInit};
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(&self.derive(purpose).into());
        let nonce = random_bytes::<24>();
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(&nonce.into(), plaintext)
                .expect("encryption of in-memory data"),
        );
        format!(
            "v1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
        )
    }

    /// Opens what [`SecretKey::seal`] made for the same purpose; `None` if it was made with
    /// another key or purpose or has been altered.
    pub fn unseal(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, KeyInit};
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed.strip_prefix("v1.")?)
            .ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        let cipher = chacha20poly1305::XChaCha20Poly1305::new(&self.derive(purpose).into());
        cipher.decrypt(&nonce.into(), ciphertext).ok()
    }

    /// Constant-time check of a signature made by [`SecretKey::sign`].
    pub fn verify(&self, purpose: &str, message: &[u8], signature: &[u8]) -> bool {
        let mut mac = HmacSha256::new_from_slice(&self.derive(purpose)).expect("any key length");
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    }

    /// Constant-time check of the first bytes (at least 16) of a [`SecretKey::sign`] signature,
    /// for tokens that carry a shortened one.
    pub fn verify_prefix(&self, purpose: &str, message: &[u8], prefix: &[u8]) -> bool {
        if prefix.len() < 16 {
            return false;
        }
        let mut mac = HmacSha256::new_from_slice(&self.derive(purpose)).expect("any key length");
        mac.update(message);
        mac.verify_truncated_left(prefix).is_ok()
    }
}

/// Writes a file readable only by its owner.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Argon2id password hashing (OWASP's recommended parameters are the crate's defaults).
/// CPU-heavy: call from `spawn_blocking`.
pub mod password {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};
    use argon2::{Argon2, PasswordHash};

    pub fn hash(password: &str) -> String {
        Argon2::default()
            .hash_password(password.as_bytes())
            .expect("argon2 hashing with default parameters cannot fail")
            .to_string()
    }

    pub fn verify(password: &str, stored: &str) -> bool {
        match PasswordHash::new(stored) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// A valid hash of a random password: verifying against it costs the same time as a real
    /// check, so a login for an unknown e-mail cannot be told apart by timing.
    pub fn dummy_hash() -> &'static str {
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        DUMMY.get_or_init(|| hash(&super::random_token(32)))
    }
}

/// The SHA-256 of `text` in lower-case hex: a stable key for content, not a secret.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Outgoing HTTPS (notification webhooks, SMS) uses the process-wide TLS crypto provider;
/// ring is the one the mailer's TLS already links. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_alphanumeric_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn signatures_verify_and_are_purpose_bound() {
        let key = SecretKey::from_config(&"k".repeat(40)).unwrap();
        let sig = key.sign("reset", b"42");
        assert!(key.verify("reset", b"42", &sig));
        assert!(!key.verify("ack", b"42", &sig));
        assert!(!key.verify("reset", b"43", &sig));
    }

    #[test]
    fn short_configured_keys_are_refused() {
        assert!(SecretKey::from_config("too short").is_err());
    }

    #[test]
    fn password_hashes_verify() {
        let stored = password::hash("correct horse battery");
        assert!(password::verify("correct horse battery", &stored));
        assert!(!password::verify("wrong horse battery", &stored));
        assert!(!password::verify("anything", "not a hash"));
    }
}
