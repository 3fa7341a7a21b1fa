//! Sign-in cannot be turned against the person signing in: hand-off codes work only on the
//! host they were minted for and in the browser that asked for them (no login CSRF), and
//! no sign-in path redirects off-site (`return_to` is checked by parsing).

use robot::access::session::{hash_secret, random_token};
use robot::db::sessions::{HandoffBinding, create_handoff};

use crate::common::*;

const ALICE: &str = "did:plc:binding-alice";
const MALLORY: &str = "did:plc:binding-mallory";

/// A server with two private wikis, `alpha` (Alice's) and `beta` (Mallory's).
async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.add_user(ALICE, "alice.test");
    s.add_user(MALLORY, "mallory.test");
    s.create_wiki("alpha", ALICE, false);
    s.create_wiki("beta", MALLORY, false);
    s
}

/// Signs `client` in on the root with an operator link.
async fn root_login(s: &TestServer, client: &reqwest::Client, did: &str) {
    let token = random_token();
    robot::db::sessions::create_link(
        &s.state.db.conn().unwrap(),
        &hash_secret(&token),
        did,
        "login",
        600,
    )
    .unwrap();
    let r = client
        .get(format!("{}/auth/login-link?token={token}", s.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

/// Starts the wiki host's sign-in with a signed-in `client` and returns the hand-off URL
/// the root answers with (not followed).
async fn handoff_url(s: &TestServer, client: &reqwest::Client, slug: &str) -> String {
    let r = client
        .get(format!("{}/-/login?return_to=/", s.wiki_url(slug)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to_root = location(&r);
    assert!(to_root.contains("&nonce="), "{to_root}");
    let r = client.get(&to_root).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to.starts_with(&format!("{}/-/session?token=", s.wiki_url(slug))),
        "{to}"
    );
    to
}

/// The code in a hand-off URL.
fn code_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// Status and body of `GET url` by `client`.
async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn refused(status: u16, body: &str) {
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("sign in again"), "{body}");
}

/// Who a client is on a wiki host: its home page (private) shows the handle.
async fn signed_in_as(s: &TestServer, client: &reqwest::Client, slug: &str) -> Option<String> {
    let (status, body) = get(client, &format!("{}/", s.wiki_url(slug))).await;
    (status == 200).then(|| {
        ["alice.test", "mallory.test"]
            .into_iter()
            .find(|h| body.contains(&format!("@{h}")))
            .unwrap_or("?")
            .to_string()
    })
}

#[tokio::test]
async fn a_hand_off_code_works_only_in_the_browser_that_asked() {
    let s = server().await;
    let mallory = s.client();
    root_login(&s, &mallory, MALLORY).await;

    // Mallory's code, opened by a browser without her nonce cookie (the victim's, fresh).
    let url = handoff_url(&s, &mallory, "alpha").await;
    let victim = s.client();
    let (status, body) = get(&victim, &url).await;
    refused(status, &body);
    assert_eq!(signed_in_as(&s, &victim, "alpha").await, None);
    // Used up by the attempt: not even Mallory's browser can use it now.
    let (status, _) = get(&mallory, &url).await;
    assert_eq!(status, 403);

    // A victim who started a sign-in of her own has a nonce cookie, but not Mallory's.
    let url = handoff_url(&s, &mallory, "alpha").await;
    let r = victim
        .get(format!("{}/-/login?return_to=/", s.wiki_url("alpha")))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("robot_handoff=")
    );
    let (status, body) = get(&victim, &url).await;
    refused(status, &body);
    assert_eq!(signed_in_as(&s, &victim, "alpha").await, None);

    // The happy path: the browser that asked redeems it, and is signed in.
    let alice = s.client();
    root_login(&s, &alice, ALICE).await;
    let url = handoff_url(&s, &alice, "alpha").await;
    let r = alice.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    assert_eq!(
        signed_in_as(&s, &alice, "alpha").await.as_deref(),
        Some("alice.test")
    );
    // Once.
    let (status, _) = get(&alice, &url).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_code_for_one_host_is_refused_on_every_other() {
    let s = server().await;
    let alice = s.client();
    root_login(&s, &alice, ALICE).await;

    // A real code for alpha, presented on beta (which Alice may not read anyway) and on
    // the root: refused, by the same browser.
    let url = handoff_url(&s, &alice, "alpha").await;
    let code = code_of(&url);
    let (status, body) = get(
        &alice,
        &format!("{}/-/session?token={code}&return_to=/", s.wiki_url("beta")),
    )
    .await;
    refused(status, &body);
    let url = handoff_url(&s, &alice, "alpha").await;
    let code = code_of(&url);
    let (status, body) = get(&alice, &format!("{}/auth/session?token={code}", s.root())).await;
    refused(status, &body);

    // Crafted codes isolate the host check: the browser's nonce is right, the host is not.
    let nonce = random_token();
    let mint = |host: &str| {
        let code = random_token();
        create_handoff(
            &s.state.db.conn().unwrap(),
            &hash_secret(&code),
            MALLORY,
            &HandoffBinding {
                host: host.to_string(),
                browser_hash: hash_secret(&nonce),
            },
            60,
        )
        .unwrap();
        code
    };
    let wiki_cookie = format!("robot_handoff={nonce}");
    let root_cookie = format!("robot_signin={nonce}");
    let root_host = format!("localhost:{}", s.addr.port());
    // Minted for alpha: refused on beta and on the root.
    let code = mint("alpha.localhost");
    let (status, body) = s
        .raw(
            &s.wiki_host("beta"),
            "GET",
            &format!("/-/session?token={code}"),
            Some(&wiki_cookie),
            None,
        )
        .await;
    refused(status, &body);
    let code = mint("alpha.localhost");
    let (status, body) = s
        .raw(
            &root_host,
            "GET",
            &format!("/auth/session?token={code}"),
            Some(&root_cookie),
            None,
        )
        .await;
    refused(status, &body);
    // Minted for the root: refused on a wiki host.
    let code = mint("localhost");
    let (status, body) = s
        .raw(
            &s.wiki_host("beta"),
            "GET",
            &format!("/-/session?token={code}"),
            Some(&wiki_cookie),
            None,
        )
        .await;
    refused(status, &body);
    // Minted for the root, on the root, but in another browser (no cookie, another nonce).
    let code = mint("localhost");
    let (status, body) = s
        .raw(
            &root_host,
            "GET",
            &format!("/auth/session?token={code}"),
            None,
            None,
        )
        .await;
    refused(status, &body);
    let code = mint("localhost");
    let other = format!("robot_signin={}", random_token());
    let (status, body) = s
        .raw(
            &root_host,
            "GET",
            &format!("/auth/session?token={code}"),
            Some(&other),
            None,
        )
        .await;
    refused(status, &body);
    // The right host and the right browser: accepted (the checks above are not blanket).
    let code = mint("localhost");
    let (status, raw) = s
        .raw(
            &root_host,
            "GET",
            &format!("/auth/session?token={code}"),
            Some(&root_cookie),
            None,
        )
        .await;
    assert_eq!(status, 303, "{raw}");
    assert!(raw.contains("robot_session="), "{raw}");
    let code = mint("beta.localhost");
    let (status, raw) = s
        .raw(
            &s.wiki_host("beta"),
            "GET",
            &format!("/-/session?token={code}"),
            Some(&wiki_cookie),
            None,
        )
        .await;
    assert_eq!(status, 303, "{raw}");
    assert!(raw.contains("robot_session="), "{raw}");
}

#[tokio::test]
async fn the_root_hands_off_only_with_the_wiki_hosts_nonce() {
    let s = server().await;
    let alice = s.client();
    root_login(&s, &alice, ALICE).await;
    // Asked for a hand-off without a nonce (a link someone crafted, or the return after
    // an ATProto sign-in): the root sends the browser to the wiki host's sign-in first,
    // which sets the cookie; no code is minted.
    let back = format!("{}/Some%20Page", s.wiki_url("alpha"));
    let r = alice
        .get(format!("{}/auth/login", s.root()))
        .query(&[("return_to", back.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        format!("{}/-/login?return_to=%2FSome%2520Page", s.wiki_url("alpha"))
    );
    let r = alice.get(location(&r)).send().await.unwrap();
    let r = alice.get(location(&r)).send().await.unwrap();
    let handoff = location(&r);
    assert!(handoff.contains("/-/session?token="), "{handoff}");
    let r = alice.get(&handoff).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/Some%20Page");
    // The wiki host's nonce cookie is host-only (no Domain) and HttpOnly.
    let r = alice
        .get(format!("{}/-/login", s.wiki_url("alpha")))
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["HttpOnly", "Path=/;", "SameSite=Lax"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(!set.contains("Domain"), "{set}");
}

#[tokio::test]
async fn sign_in_never_redirects_off_site() {
    const EVIL: &str = "/%09/evil.example/phish";
    let s = server().await;
    let alice = s.client();
    root_login(&s, &alice, ALICE).await;

    // The root's sign-in page, for a signed-in user.
    for evil in [
        EVIL,
        "/%5Cevil.example",
        "//evil.example",
        "/%2F%2Fevil.example",
        "https://evil.example/",
        "/.//evil.example",
    ] {
        let r = alice
            .get(format!("{}/auth/login?return_to={evil}", s.root()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{evil}");
        assert_eq!(location(&r), "/", "{evil}");
    }

    // The operator's sign-in link.
    let token = random_token();
    robot::db::sessions::create_link(
        &s.state.db.conn().unwrap(),
        &hash_secret(&token),
        ALICE,
        "login",
        600,
    )
    .unwrap();
    let r = s
        .client()
        .get(format!(
            "{}/auth/login-link?token={token}&return_to={EVIL}",
            s.root()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");

    // The wiki host's sign-in: the way back is the wiki's home, and so is the landing.
    let r = alice
        .get(format!("{}/-/login?return_to={EVIL}", s.wiki_url("alpha")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to_root = location(&r);
    let back: String = reqwest::Url::parse(&to_root)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "return_to")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(back, format!("{}/", s.wiki_url("alpha")));
    let r = alice.get(&to_root).send().await.unwrap();
    let handoff = location(&r);
    // The hand-off itself, with the evil target put back in.
    let code = code_of(&handoff);
    let r = alice
        .get(format!(
            "{}/-/session?token={code}&return_to={EVIL}",
            s.wiki_url("alpha")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    assert_eq!(
        signed_in_as(&s, &alice, "alpha").await.as_deref(),
        Some("alice.test")
    );

    // A wiki URL whose path is hostile is not a wiki return: the root stays home.
    let r = alice
        .get(format!(
            "{}/auth/login?return_to={}%2F%09%2Fevil.example",
            s.root(),
            s.wiki_url("alpha").replace(':', "%3A").replace('/', "%2F")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
}

/// Stores an ATProto sign-in in progress, as `Atproto::start` does, bound to `browser`
/// (the SHA-256 of its nonce cookie), and returns its state.
fn pending_sign_in(s: &TestServer, browser: &str) -> String {
    let state = random_token();
    robot::db::atproto::insert_request(
        &s.state.db.conn().unwrap(),
        &state,
        "https://pds.invalid",
        "{}",
        Some(ALICE),
        Some("alice.test"),
        b"sealed",
        "/app",
        browser,
        600,
    )
    .unwrap();
    state
}

#[tokio::test]
async fn the_atproto_callback_needs_the_browser_that_started_it() {
    let s = server().await;
    let root_host = format!("localhost:{}", s.addr.port());
    let loopback = format!("127.0.0.1:{}", s.addr.port());
    let nonce = random_token();
    let cookie = format!("robot_signin={nonce}");
    // The wrong `iss` is refused after the browser check: reaching it shows the check passed.
    let callback = |state: &str| {
        format!("/auth/callback?state={state}&code=c&iss=https%3A%2F%2Fother.invalid")
    };

    // On the root: without the cookie, or with another browser's, refused before anything
    // is exchanged; the state is spent.
    let state = pending_sign_in(&s, &hash_secret(&nonce));
    let (status, body) = s
        .raw(&root_host, "GET", &callback(&state), None, None)
        .await;
    refused(status, &body);
    assert!(body.contains("another browser"), "{body}");
    let (status, body) = s
        .raw(&root_host, "GET", &callback(&state), Some(&cookie), None)
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("expired or was already used"), "{body}");
    let state = pending_sign_in(&s, &hash_secret(&nonce));
    let other = format!("robot_signin={}", random_token());
    let (status, body) = s
        .raw(&root_host, "GET", &callback(&state), Some(&other), None)
        .await;
    refused(status, &body);
    // With the browser's own cookie, the sign-in goes on (to the issuer check here).
    let state = pending_sign_in(&s, &hash_secret(&nonce));
    let (status, body) = s
        .raw(&root_host, "GET", &callback(&state), Some(&cookie), None)
        .await;
    assert_eq!(status, 403);
    assert!(body.contains("unexpected server"), "{body}");

    // On the loopback callback host the root's cookie is not visible: the check moves to
    // the root's /auth/session (the hand-off is bound to the root and to the nonce).
    let state = pending_sign_in(&s, &hash_secret(&nonce));
    let (status, body) = s.raw(&loopback, "GET", &callback(&state), None, None).await;
    assert_eq!(status, 403);
    assert!(body.contains("unexpected server"), "{body}");

    // A sign-in stored unbound (before this check existed) cannot finish anywhere.
    let state = pending_sign_in(&s, &hash_secret(&nonce));
    s.state
        .db
        .conn()
        .unwrap()
        .execute(
            "UPDATE atproto_auth_requests SET browser_hash = NULL WHERE state = ?1",
            [&state],
        )
        .unwrap();
    let (status, body) = s.raw(&loopback, "GET", &callback(&state), None, None).await;
    refused(status, &body);
}
