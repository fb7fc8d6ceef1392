//! Page tokens: opaque to clients, signed with this database's own key (`tracking_keys`), and
//! bound to the query that made them, so an edited token, or one from another search (another
//! experiment, filter or order), is refused rather than answered with someone else's page.

use sha2::{Digest, Sha256};

use crate::db::Database;

/// The signing key, made once per database (every process over it signs alike).
#[derive(Clone)]
pub struct Signer {
    key: String,
}

/// What a token carried, or why it is refused.
pub type Checked = Result<String, String>;

impl Signer {
    pub async fn open(db: &Database) -> Result<Signer, sqlx::Error> {
        let fresh = crate::accounts::secret::new_secret("");
        sqlx::query("INSERT INTO tracking_keys (name, value) VALUES ('page_tokens', $1) ON CONFLICT DO NOTHING")
            .bind(&fresh)
            .execute(db.pool())
            .await?;
        let key: String = sqlx::query_scalar("SELECT value FROM tracking_keys WHERE name = 'page_tokens'")
            .fetch_one(db.pool())
            .await?;
        Ok(Signer { key })
    }

    fn mac(&self, scope: &str, payload: &str) -> String {
        let mut h = Sha256::new();
        for part in [self.key.as_str(), scope, payload] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }

    /// A token for `payload` (the position of the next page) within `scope` (the query).
    pub fn sign(&self, scope: &str, payload: &str) -> String {
        format!("{}.{}", hex::encode(payload), self.mac(scope, payload))
    }

    /// The payload of a token made by [`Signer::sign`] for the same scope.
    pub fn check(&self, scope: &str, token: &str) -> Checked {
        let refused = || "invalid page_token: use the next_page_token of the same search".to_string();
        let (payload, mac) = token.split_once('.').ok_or_else(refused)?;
        let payload = hex::decode(payload).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(refused)?;
        if self.mac(scope, &payload) != mac {
            return Err(refused());
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_check_only_within_their_scope_and_unedited() {
        let s = Signer { key: "k".into() };
        let t = s.sign("exp 1", "25");
        assert_eq!(s.check("exp 1", &t).unwrap(), "25");
        assert!(s.check("exp 2", &t).is_err(), "another query's token");
        let edited = format!("{}{}", hex::encode("99"), &t[t.find('.').unwrap()..]);
        assert!(s.check("exp 1", &edited).is_err(), "an edited offset");
        assert!(s.check("exp 1", "o25").is_err());
        assert!(Signer { key: "other".into() }.check("exp 1", &t).is_err(), "another database's");
    }
}
