-- Sign-in hand-offs bound to where they may be redeemed and by whom.
--
-- A hand-off code (login_links, purpose 'handoff') names the host it was minted for
-- (`slug.domain` of a wiki, or the root's `domain`) and the SHA-256 of the nonce cookie of
-- the browser that asked for it; redeeming it elsewhere, or in another browser, fails.
-- The operator's sign-in links (purpose 'login') stay unbound: both columns are NULL.
ALTER TABLE login_links ADD COLUMN host TEXT;
ALTER TABLE login_links ADD COLUMN browser_hash TEXT;

-- The SHA-256 of the nonce cookie set by the browser that started an ATProto sign-in:
-- the callback (or the hand-off the loopback callback mints) needs the same browser.
ALTER TABLE atproto_auth_requests ADD COLUMN browser_hash TEXT;
