#!/usr/bin/env python3
"""The official MCP Python SDK's OAuth client against robot, headless (research/mcp-auth.md §5).

usage: oauth_flow.py MCP_URL SESSION_COOKIE [CLIENT_METADATA_URL]

Discovery, dynamic registration (or, given CLIENT_METADATA_URL, a client ID metadata
document at that URL instead), authorize, consent (as the signed-in person whose session
cookie is given), token, initialize, tools/list, tools/call, then a forced token expiry so
the SDK refreshes, and a second tools/call with the refreshed token. Prints one JSON line
with what happened; exits non-zero on any failure.
"""
import asyncio, json, socket, sys, time, urllib.parse

# Browsers resolve *.localhost to loopback; glibc does not, so teach this process (before
# any library binds the function).
_real_getaddrinfo = socket.getaddrinfo
def _getaddrinfo(host, *args, **kw):
    if isinstance(host, (str, bytes)) and (host.decode() if isinstance(host, bytes) else host).endswith(".localhost"):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kw)
socket.getaddrinfo = _getaddrinfo

import httpx  # noqa: E402
from mcp import ClientSession  # noqa: E402
from mcp.client.auth import OAuthClientProvider, TokenStorage  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken  # noqa: E402

MCP_URL, COOKIE = sys.argv[1], sys.argv[2]
CLIENT_METADATA_URL = sys.argv[3] if len(sys.argv) > 3 else None
REDIRECT = "http://127.0.0.1:9/callback"  # nothing listens: the final Location is read instead
seen = {"wire": []}


class Memory(TokenStorage):
    def __init__(self):
        self.tokens, self.client = None, None
    async def get_tokens(self): return self.tokens
    async def set_tokens(self, tokens: OAuthToken): self.tokens = tokens
    async def get_client_info(self): return self.client
    async def set_client_info(self, info: OAuthClientInformationFull): self.client = info


callback = {}


async def redirect_handler(url: str) -> None:
    """Plays the person in the browser: signed in, approves the consent page."""
    seen["authorize_url"] = url
    origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlparse(url))
    async with httpx.AsyncClient(follow_redirects=False, headers={"Cookie": COOKIE}) as web:
        r = await web.get(url)
        if r.status_code != 200:
            raise SystemExit(f"authorize answered {r.status_code}: {r.text[:300]}")
        html = r.text
        seen["consent_shows_client"] = "robot test (python)" in html
        form = {}
        for part in html.split('<input type="hidden" ')[1:]:
            name = part.split('name="', 1)[1].split('"', 1)[0]
            value = part.split('value="', 1)[1].split('"', 1)[0] if 'value="' in part else ""
            form[name] = value.replace("&amp;", "&").replace("&quot;", '"').replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">")
        form["decision"] = "approve"
        action = next(a.split('"', 1)[0] for a in html.split('action="')[1:] if "oauth/authorize" in a.split('"', 1)[0])
        r = await web.post(origin + action, data=form)
        loc = r.headers.get("location", "")
        if not loc.startswith(REDIRECT):
            raise SystemExit(f"consent answered {r.status_code} {loc!r}: {r.text[:300]}")
        q = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query)
        callback.update({k: v[0] for k, v in q.items()})


async def callback_handler():
    return callback["code"], callback.get("state")


def log_request(request: httpx.Request):
    seen["wire"].append(f"{request.method} {request.url.path}")


async def main():
    storage = Memory()
    provider = OAuthClientProvider(
        server_url=MCP_URL,
        client_metadata=OAuthClientMetadata(
            client_name="robot test (python)",
            redirect_uris=[REDIRECT],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        ),
        storage=storage,
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
        client_metadata_url=CLIENT_METADATA_URL,
    )
    async with streamablehttp_client(MCP_URL, auth=provider, httpx_client_factory=factory) as (r, w, _):
        async with ClientSession(r, w) as session:
            init = await session.initialize()
            seen["protocol"] = init.protocolVersion
            tools = await session.list_tools()
            seen["tools"] = len(tools.tools)
            res = await session.call_tool("write_note", {"path": "From Python", "content": "Written through OAuth.\n"})
            seen["write"] = res.content[0].text
            seen["write_error"] = bool(res.isError)
    first_access = storage.tokens.access_token
    seen["iss"] = callback.get("iss")
    # Let the access token expire: the SDK must refresh before the next request.
    provider.context.token_expiry_time = time.time() - 1
    async with streamablehttp_client(MCP_URL, auth=provider, httpx_client_factory=factory) as (r, w, _):
        async with ClientSession(r, w) as session:
            await session.initialize()
            res = await session.call_tool("read_note", {"path": "From Python"})
            seen["read"] = res.content[0].text
    seen["refreshed"] = storage.tokens.access_token != first_access
    seen["client_id"] = storage.client.client_id if storage.client else None
    seen["scope"] = storage.tokens.scope
    print(json.dumps(seen))


async def _hook(req):
    log_request(req)


def factory(headers=None, timeout=None, auth=None):
    return httpx.AsyncClient(headers=headers, timeout=timeout, auth=auth, follow_redirects=False,
                             event_hooks={"request": [_hook]})


asyncio.run(main())
