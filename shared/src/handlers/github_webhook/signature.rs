//! GitHub's `X-Hub-Signature-256`: HMAC-SHA256 of the raw body with the webhook secret,
//! compared in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Whether `header` (`sha256=<64 hex digits>`) signs `body` with `secret`. Anything else — no
/// prefix, the legacy `sha1=`, bad hex, a wrong length — is a mismatch.
pub fn signature_matches(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_digest) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest.trim()) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The `X-Hub-Signature-256` header GitHub sends for `body`: what the tests, the end-to-end runs
/// and the benchmark sign their deliveries with.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails; an empty header would match nothing.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";
    const SIGNED: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    #[test]
    fn githubs_documented_test_vector_matches() {
        assert!(signature_matches(SECRET, b"Hello, World!", SIGNED));
        assert_eq!(sign(SECRET, b"Hello, World!"), SIGNED);
    }

    #[test]
    fn tampering_and_malformed_headers_do_not() {
        assert!(!signature_matches(SECRET, b"Hello, World?", SIGNED));
        assert!(!signature_matches(
            b"another secret",
            b"Hello, World!",
            SIGNED
        ));
        assert!(!signature_matches(
            SECRET,
            b"Hello, World!",
            "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59"
        ));
        assert!(!signature_matches(SECRET, b"Hello, World!", &SIGNED[7..]));
        assert!(!signature_matches(SECRET, b"Hello, World!", "sha256=zz"));
        assert!(!signature_matches(SECRET, b"Hello, World!", &SIGNED[..40]));
        assert!(!signature_matches(SECRET, b"Hello, World!", ""));
    }
}
