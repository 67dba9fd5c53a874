//! Values the server signs so that it can trust them when they come back without a session: the
//! one-click unsubscribe token in status emails, and the verification code printed on a permit.
//! Each uses its own subkey of the server's signing secret, never the secret itself, so one kind
//! can never be passed off as the other.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::db::ids::AccountId;

/// Bytes of MAC kept in an unsubscribe token (128 bits: unforgeable by guessing).
const TOKEN_MAC_BYTES: usize = 16;
/// Characters of a permit's verification code (Crockford base32: 50 bits, read aloud easily).
pub const PERMIT_CODE_CHARS: usize = 10;
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

#[derive(Clone)]
pub struct Signer {
    unsubscribe: Vec<u8>,
    permits: Vec<u8>,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        let subkey = |purpose: &[u8]| {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
            mac.update(purpose);
            mac.finalize().into_bytes().to_vec()
        };
        Signer {
            unsubscribe: subkey(b"mynorfolk unsubscribe tokens"),
            permits: subkey(b"mynorfolk permit codes"),
        }
    }

    /// A token that turns `account`'s status emails off: the account id and a MAC of it.
    pub fn unsubscribe_token(&self, account: AccountId) -> String {
        let id = account.0.as_bytes();
        let mut token = id.to_vec();
        token.extend_from_slice(&mac(&self.unsubscribe, id)[..TOKEN_MAC_BYTES]);
        URL_SAFE_NO_PAD.encode(token)
    }

    /// The account an unsubscribe token names, if the server signed it.
    pub fn unsubscribe_account(&self, token: &str) -> Option<AccountId> {
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        let (id, tag) = bytes.split_at_checked(16)?;
        let mut check = Hmac::<Sha256>::new_from_slice(&self.unsubscribe).expect("any key length");
        check.update(id);
        check.verify_truncated_left(tag).ok()?;
        (tag.len() == TOKEN_MAC_BYTES).then(|| AccountId(Uuid::from_slice(id).expect("16 bytes")))
    }

    /// The code printed on the permit `reference`, which lets anyone holding the permit check it.
    pub fn permit_code(&self, reference: &str) -> String {
        let digest = mac(&self.permits, reference.as_bytes());
        let bits = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
        (0..PERMIT_CODE_CHARS)
            .map(|i| CROCKFORD[((bits >> (59 - 5 * i)) & 31) as usize] as char)
            .collect()
    }

    /// Whether `code` is the permit's code (in constant time; case, spaces and hyphens aside).
    pub fn permit_code_matches(&self, reference: &str, code: &str) -> bool {
        let given: Vec<u8> = code
            .bytes()
            .filter(|b| !matches!(b, b' ' | b'-'))
            .map(|b| b.to_ascii_uppercase())
            .collect();
        let expected = self.permit_code(reference);
        given.len() == expected.len()
            && given
                .iter()
                .zip(expected.bytes())
                .fold(0u8, |differ, (a, b)| differ | (a ^ b))
                == 0
    }
}

fn mac(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(value);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsubscribe_tokens_name_their_account_and_cannot_be_forged() {
        let signer = Signer::new(b"secret");
        let account = AccountId(Uuid::new_v4());
        let token = signer.unsubscribe_token(account);
        assert_eq!(signer.unsubscribe_account(&token), Some(account));

        let other = AccountId(Uuid::new_v4());
        let mut forged = URL_SAFE_NO_PAD.decode(&token).unwrap();
        forged[..16].copy_from_slice(other.0.as_bytes());
        assert_eq!(
            signer.unsubscribe_account(&URL_SAFE_NO_PAD.encode(&forged)),
            None
        );
        assert_eq!(
            Signer::new(b"another secret").unsubscribe_account(&token),
            None
        );
        assert_eq!(signer.unsubscribe_account(&token[..token.len() - 2]), None);
        assert_eq!(signer.unsubscribe_account(""), None);
        assert_eq!(signer.unsubscribe_account("not base64!"), None);
        // A MAC cut short is not accepted as a shorter MAC.
        let short = URL_SAFE_NO_PAD.encode(&URL_SAFE_NO_PAD.decode(&token).unwrap()[..17]);
        assert_eq!(signer.unsubscribe_account(&short), None);
    }

    #[test]
    fn permit_codes_are_short_keyed_and_forgiving_of_how_they_are_typed() {
        let signer = Signer::new(b"secret");
        let code = signer.permit_code("SKP-2026-000042");
        assert_eq!(code.len(), PERMIT_CODE_CHARS);
        assert!(code.bytes().all(|b| CROCKFORD.contains(&b)));
        assert!(signer.permit_code_matches("SKP-2026-000042", &code));
        let typed = format!("{}-{}", &code[..5], &code[5..]).to_ascii_lowercase();
        assert!(signer.permit_code_matches("SKP-2026-000042", &typed));
        assert!(!signer.permit_code_matches("SKP-2026-000043", &code));
        assert!(!signer.permit_code_matches("SKP-2026-000042", &code[..9]));
        assert!(!signer.permit_code_matches("SKP-2026-000042", ""));
        assert_ne!(Signer::new(b"other").permit_code("SKP-2026-000042"), code);
    }
}
