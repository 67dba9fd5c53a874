//! The provider's webhooks: GOV.UK Pay signs the raw body with HMAC-SHA256 and the webhook's
//! signing secret, lower-case hex, in `Pay-Signature`. Delivered at least once, in any order.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The signature of `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// Whether `signature` is `body`'s, compared in constant time.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(expected) = unhex(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The parts of a GOV.UK Pay webhook message this service reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Message {
    pub webhook_message_id: String,
    pub resource_id: String,
    pub resource_type: String,
    pub event_type: String,
    #[serde(default)]
    pub resource: Option<Resource>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resource {
    pub state: super::govuk_pay::State,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_check_the_whole_body_and_key() {
        let body = br#"{"resource_id":"abc"}"#;
        let signature = sign(b"secret", body);
        assert_eq!(signature.len(), 64);
        assert!(verify(b"secret", body, &signature));
        assert!(verify(b"secret", body, &format!(" {signature}\n")));
        assert!(!verify(b"other", body, &signature));
        assert!(!verify(b"secret", br#"{"resource_id":"abd"}"#, &signature));
        assert!(!verify(
            b"secret",
            body,
            &signature.to_uppercase().replace('A', "g")
        ));
        assert!(!verify(b"secret", body, ""));
        assert!(!verify(b"secret", body, &signature[..62]));
    }
}
