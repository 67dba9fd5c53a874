//! Residents' application lists as last rendered, kept in this instance's memory and served only
//! while the account's `applications_version` (read live with the session check on every request)
//! is still the one they were rendered at: a list is never older than the database, on any
//! instance, and authorisation is never cached. Pages are kept per account and go together: when
//! the account's version moves, when its session check fails (signed out, erased) and after
//! `MAX_AGE` at most, so what a list showed does not outstay its reason in memory. The memory
//! counted (pages, keys and a fixed cost per entry) is bounded; when full, the cache starts again
//! empty.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::db::ids::AccountId;

/// Memory the cache may hold.
const MAX_BYTES: usize = 8 * 1024 * 1024;
/// A page larger than this is not kept (it would crowd out many others).
const MAX_PAGE_BYTES: usize = MAX_BYTES / 64;
/// What an entry costs besides its page and key (map slots, the account's record).
const ENTRY_OVERHEAD_BYTES: usize = 256;
/// Pages of one account at one version.
const MAX_PAGES_PER_ACCOUNT: usize = 16;
/// Longest a page is kept, however current.
const MAX_AGE: Duration = Duration::from_secs(10 * 60);

#[derive(Default)]
pub struct ListCache(Mutex<Accounts>);

#[derive(Default)]
struct Accounts {
    kept: HashMap<AccountId, Kept>,
    bytes: usize,
}

/// One account's pages, all rendered at `version`.
struct Kept {
    version: i64,
    since: Instant,
    pages: HashMap<String, Bytes>,
    bytes: usize,
}

impl ListCache {
    /// The page `query` of `account`'s list, if it was rendered at `version`.
    pub fn get(&self, account: AccountId, query: &str, version: i64) -> Option<Bytes> {
        let accounts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let kept = accounts.kept.get(&account)?;
        if kept.version != version || kept.since.elapsed() > MAX_AGE {
            return None;
        }
        kept.pages.get(query).cloned()
    }

    /// Keeps `page`, rendered at `version`. Pages of an earlier version go; a page of an earlier
    /// version than those kept (a slow request) is not kept.
    pub fn put(&self, account: AccountId, query: String, version: i64, page: Bytes) {
        if page.len() > MAX_PAGE_BYTES {
            return;
        }
        let mut accounts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let stale = accounts.kept.get(&account).map(|kept| {
            (
                kept.version < version || kept.since.elapsed() > MAX_AGE,
                kept.version > version,
            )
        });
        match stale {
            Some((_, true)) => return,
            Some((true, false)) => accounts.forget(account),
            _ => {}
        }
        let cost = page.len() + query.len() + ENTRY_OVERHEAD_BYTES;
        if accounts.bytes + cost > MAX_BYTES {
            accounts.kept.clear();
            accounts.bytes = 0;
        }
        let kept = accounts.kept.entry(account).or_insert_with(|| Kept {
            version,
            since: Instant::now(),
            pages: HashMap::new(),
            bytes: 0,
        });
        if kept.pages.len() >= MAX_PAGES_PER_ACCOUNT && !kept.pages.contains_key(&query) {
            return;
        }
        let replaced = kept
            .pages
            .insert(query.clone(), page)
            .map_or(0, |old| old.len() + query.len() + ENTRY_OVERHEAD_BYTES);
        kept.bytes = kept.bytes + cost - replaced;
        accounts.bytes = accounts.bytes + cost - replaced;
    }

    /// Drops every page of `account` (its session check failed: nothing of it is shown again).
    pub fn forget(&self, account: AccountId) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(account);
    }
}

impl Accounts {
    fn forget(&mut self, account: AccountId) {
        if let Some(kept) = self.kept.remove(&account) {
            self.bytes -= kept.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone() -> AccountId {
        AccountId(uuid::Uuid::new_v4())
    }

    #[test]
    fn a_page_is_served_only_at_the_version_it_was_rendered_at() {
        let cache = ListCache::default();
        let account = someone();
        cache.put(account, "q".into(), 3, Bytes::from_static(b"[3]"));
        assert_eq!(cache.get(account, "q", 3).as_deref(), Some(&b"[3]"[..]));
        assert_eq!(cache.get(account, "q", 4), None);
        assert_eq!(cache.get(account, "other", 3), None);
        assert_eq!(cache.get(someone(), "q", 3), None);
        // A newer version replaces every page of the account; an older one is not kept.
        cache.put(account, "other".into(), 3, Bytes::from_static(b"[o]"));
        cache.put(account, "q".into(), 4, Bytes::from_static(b"[4]"));
        assert_eq!(cache.get(account, "other", 3), None);
        assert_eq!(cache.get(account, "q", 4).as_deref(), Some(&b"[4]"[..]));
        cache.put(account, "q".into(), 3, Bytes::from_static(b"[3]"));
        assert_eq!(cache.get(account, "q", 4).as_deref(), Some(&b"[4]"[..]));
        cache.forget(account);
        assert_eq!(cache.get(account, "q", 4), None);
        assert_eq!(cache.0.lock().unwrap().bytes, 0);
    }

    #[test]
    fn memory_is_bounded_and_counted_with_keys_and_entries() {
        let cache = ListCache::default();
        let page = Bytes::from(vec![b'x'; MAX_PAGE_BYTES]);
        for _ in 0..200 {
            cache.put(someone(), "q".into(), 1, page.clone());
        }
        // Many tiny pages of one account (cursors an attacker makes up) are capped too.
        let account = someone();
        for n in 0..10_000 {
            cache.put(account, format!("cursor {n}"), 1, Bytes::from_static(b"[]"));
        }
        let accounts = cache.0.lock().unwrap();
        assert!(accounts.bytes <= MAX_BYTES);
        assert!(accounts.kept[&account].pages.len() <= MAX_PAGES_PER_ACCOUNT);
        let counted: usize = accounts.kept.values().map(|k| k.bytes).sum();
        assert_eq!(accounts.bytes, counted);
        drop(accounts);
        let too_big = Bytes::from(vec![b'x'; MAX_PAGE_BYTES + 1]);
        let account = someone();
        cache.put(account, "q".into(), 1, too_big);
        assert_eq!(cache.get(account, "q", 1), None);
    }
}
