//! Whole page views for anonymous readers of public wikis. What such a reader sees is
//! the same for every one of them: a function of the wiki's settings, the page's URL and
//! the wiki's HEAD. Those views are kept whole (`Services::views`, within `[cache] views`),
//! so the next one is a lookup, not a render. A view of another HEAD (a commit since),
//! other settings (title, visibility) or another kind of reader is another key, so a
//! kept view is never stale.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use git2::Oid;

use crate::access::Principal;
use crate::db::wikis::Wiki;
use crate::http::views::{View, ViewKey};
use crate::service::Services;

/// Whether this reader's view of `wiki` is the same as every other such reader's: an
/// anonymous reader of a public wiki.
pub fn shared(principal: &Principal, wiki: &Wiki) -> bool {
    matches!(principal, Principal::Anonymous) && wiki.is_public
}

/// The key of a [`shared`] view of `uri` at `head`.
pub fn key(wiki: &Wiki, head: Option<Oid>, uri: &str) -> ViewKey {
    let mut settings = std::hash::DefaultHasher::new();
    (&wiki.slug, &wiki.title, &wiki.description, wiki.is_public).hash(&mut settings);
    ViewKey {
        wiki_id: wiki.id,
        settings: settings.finish(),
        head,
        uri: uri.to_string(),
    }
}

/// The kept view for `key`, if there is one.
pub fn kept(state: &Services, key: &ViewKey) -> Option<Arc<View>> {
    state.views.get(key)
}

/// Keeps `view` (compressed) under `key` for the next reader.
pub fn keep(state: &Services, key: ViewKey, view: &View) {
    let kept = view.compressed();
    let bytes = kept.bytes() + key.bytes();
    state.views.insert(key, Arc::new(kept), bytes);
}
