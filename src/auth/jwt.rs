//! Short-lived access tokens: HS256 JWTs naming the account (`sub`), its session (`sid`) and roles.
//! The session is checked on every request too, so a revoked session's token stops working at once.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::configuration::AuthSettings;
use crate::domain::account::Role;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub roles: Vec<Role>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    pub ttl_secs: u64,
}

impl JwtKeys {
    pub fn from_settings(settings: &AuthSettings) -> JwtKeys {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_secs: settings.access_token_ttl_secs,
        }
    }

    pub fn issue(
        &self,
        account: Uuid,
        session: Uuid,
        role: Role,
        now: i64,
    ) -> anyhow::Result<String> {
        let claims = Claims {
            sub: account,
            sid: session,
            roles: vec![role],
            iat: now,
            exp: now + self.ttl_secs as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// Verifies signature, algorithm (HS256 only: `none` and others are refused), expiry, issuer
    /// and audience.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn keys(secret: &str, audience: &str) -> JwtKeys {
        JwtKeys::from_settings(&AuthSettings {
            jwt_secret: secret.to_owned().into(),
            signing_secret: "another secret".to_owned().into(),
            issuer: "https://issuer.test".into(),
            audience: audience.into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            hash_cost: crate::auth::password::HashCost {
                memory_kib: 8,
                iterations: 1,
                parallelism: 1,
            },
            hash_max_concurrent: 1,
            hash_cgroup: None,
        })
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn a_fresh_token_verifies() {
        let k = keys("s3cret-s3cret-s3cret-s3cret-s3cret", "api");
        let (account, session) = (Uuid::new_v4(), Uuid::new_v4());
        let claims = k
            .verify(&k.issue(account, session, Role::Staff, now()).unwrap())
            .unwrap();
        assert_eq!(
            (claims.sub, claims.sid, claims.roles),
            (account, session, vec![Role::Staff])
        );
    }

    #[test]
    fn expired_wrong_key_wrong_audience_and_tampered_tokens_are_refused() {
        let k = keys("s3cret-s3cret-s3cret-s3cret-s3cret", "api");
        let id = Uuid::new_v4();
        let expired = k.issue(id, id, Role::Resident, now() - 3600).unwrap();
        assert!(k.verify(&expired).is_none());

        let other_key = keys("another-secret-another-secret-12", "api");
        assert!(
            k.verify(&other_key.issue(id, id, Role::Resident, now()).unwrap())
                .is_none()
        );

        let other_audience = keys("s3cret-s3cret-s3cret-s3cret-s3cret", "elsewhere");
        assert!(
            k.verify(&other_audience.issue(id, id, Role::Resident, now()).unwrap())
                .is_none()
        );

        let token = k.issue(id, id, Role::Resident, now()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        payload["roles"] = serde_json::json!(["admin"]);
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        assert!(k.verify(&parts.join(".")).is_none(), "tampered payload");

        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            k.verify(&format!("{none_header}.{}.", parts[1])).is_none(),
            "alg none"
        );
        assert!(k.verify("not-a-jwt").is_none());
    }
}
