//! Random secrets (session ids, API tokens, generated passwords) and the one-way hashes under
//! which they are stored: a database leak reveals no usable secret.

use sha2::{Digest, Sha256};

/// 32 random bytes from the OS, hex-encoded behind `prefix` (e.g. "okf_" for API tokens).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source is available");
    format!("{prefix}{}", hex::encode(bytes))
}

/// A password a person can type: 20 characters from an alphabet without look-alikes.
pub fn new_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source is available");
    // 256 is not a multiple of the alphabet's size; the bias (under 1 %) costs no real strength.
    bytes.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// SHA-256 of a high-entropy secret, hex-encoded. (Passwords use argon2id instead.)
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_prefixed_and_hash_stably() {
        let a = new_secret("okf_");
        let b = new_secret("okf_");
        assert_ne!(a, b);
        assert!(a.starts_with("okf_") && a.len() == 4 + 64);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
        assert_eq!(new_password().len(), 20);
    }
}
