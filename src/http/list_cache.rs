//! Residents' application lists as last rendered, kept in this instance's memory and served only
//! while the account's `applications_version` (read live with the session check on every request)
//! is still the one they were rendered at: a list is never older than the database, on any
//! instance, and authorisation is never cached. A bounded amount of memory; when full, it starts
//! again empty.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::db::ids::AccountId;

/// Memory the cache may hold (rendered JSON).
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// A page larger than this is not kept (it would crowd out many others).
const MAX_ENTRY_BYTES: usize = MAX_BYTES / 64;

#[derive(Default)]
pub struct ListCache(Mutex<Entries>);

#[derive(Default)]
struct Entries {
    pages: HashMap<(AccountId, String), (i64, Bytes)>,
    bytes: usize,
}

impl ListCache {
    /// The page `query` of `account`'s list, if it was rendered at `version`.
    pub fn get(&self, account: AccountId, query: &str, version: i64) -> Option<Bytes> {
        let entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match entries.pages.get(&(account, query.to_owned())) {
            Some((at, page)) if *at == version => Some(page.clone()),
            _ => None,
        }
    }

    /// Keeps `page`, rendered at `version`, replacing what was kept for the same query.
    pub fn put(&self, account: AccountId, query: String, version: i64, page: Bytes) {
        if page.len() > MAX_ENTRY_BYTES {
            return;
        }
        let mut entries = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if entries.bytes + page.len() > MAX_BYTES {
            entries.pages.clear();
            entries.bytes = 0;
        }
        entries.bytes += page.len();
        if let Some((_, old)) = entries.pages.insert((account, query), (version, page)) {
            entries.bytes -= old.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_served_only_at_the_version_it_was_rendered_at() {
        let cache = ListCache::default();
        let account = AccountId(uuid::Uuid::new_v4());
        cache.put(account, "q".into(), 3, Bytes::from_static(b"[3]"));
        assert_eq!(cache.get(account, "q", 3).as_deref(), Some(&b"[3]"[..]));
        assert_eq!(cache.get(account, "q", 4), None);
        assert_eq!(cache.get(account, "other", 3), None);
        assert_eq!(cache.get(AccountId(uuid::Uuid::new_v4()), "q", 3), None);
        cache.put(account, "q".into(), 4, Bytes::from_static(b"[4]"));
        assert_eq!(cache.get(account, "q", 3), None);
        assert_eq!(cache.get(account, "q", 4).as_deref(), Some(&b"[4]"[..]));
    }

    #[test]
    fn memory_is_bounded() {
        let cache = ListCache::default();
        let page = Bytes::from(vec![b'x'; MAX_ENTRY_BYTES]);
        for _ in 0..200 {
            cache.put(AccountId(uuid::Uuid::new_v4()), "q".into(), 1, page.clone());
        }
        let entries = cache.0.lock().unwrap();
        assert!(entries.bytes <= MAX_BYTES);
        assert_eq!(entries.bytes, entries.pages.len() * MAX_ENTRY_BYTES);
        drop(entries);
        let too_big = Bytes::from(vec![b'x'; MAX_ENTRY_BYTES + 1]);
        let account = AccountId(uuid::Uuid::new_v4());
        cache.put(account, "q".into(), 1, too_big);
        assert_eq!(cache.get(account, "q", 1), None);
    }
}
