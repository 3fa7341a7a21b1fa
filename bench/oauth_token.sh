#!/usr/bin/env bash
# Prints an OAuth access token for wiki SLUG, obtained through the real flow as the user
# DID: a sign-in link (robot admin login-link), the bound hand-off to the wiki host, dynamic
# client registration, authorize and consent, and the code exchange with PKCE.
#
#   bench/oauth_token.sh ROBOT PORT SLUG DID     (ROBOT_* environment as for the server)
set -euo pipefail
robot="$1" port="$2" slug="$3" did="$4"
root="http://localhost:$port" wiki="http://$slug.localhost:$port"
jar="$(mktemp)"
trap 'rm -f "$jar"' EXIT
c() { curl -sS -b "$jar" -c "$jar" --resolve "localhost:$port:127.0.0.1" --resolve "$slug.localhost:$port:127.0.0.1" "$@"; }
location() { c -o /dev/null -w '%{redirect_url}' "$@"; }

link="$("$robot" admin login-link "$did" 2>/dev/null)"
c -o /dev/null "$root/auth/login-link?${link#*\?}"
# The wiki host's sign-in: it sets the browser's hand-off nonce, the root hands a code
# bound to it back, and the wiki host redeems it (every hop followed, cookies kept).
c -L -o /dev/null "$wiki/-/login?return_to=/"

redirect="http://127.0.0.1:9/callback"
client_id="$(c -H 'Content-Type: application/json' -d "{\"redirect_uris\":[\"$redirect\"],\"client_name\":\"bench\",\"token_endpoint_auth_method\":\"none\"}" \
    "$wiki/-/oauth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])')"
verifier="bench-verifier-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
challenge="$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
consent="$(c -G "$wiki/-/oauth/authorize" --data-urlencode response_type=code --data-urlencode "client_id=$client_id" \
    --data-urlencode "redirect_uri=$redirect" --data-urlencode "code_challenge=$challenge" \
    --data-urlencode code_challenge_method=S256 --data-urlencode "scope=wiki:read wiki:write" \
    --data-urlencode "resource=$wiki/mcp")"
form=(--data-urlencode decision=approve)
while read -r name value; do
    form+=(--data-urlencode "$name=$value")
done < <(python3 -c '
import html, re, sys
for m in re.finditer(r"<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\"", sys.stdin.read()):
    print(m.group(1), html.unescape(m.group(2)))' <<<"$consent")
code="$(location "${form[@]}" "$wiki/-/oauth/authorize" | python3 -c '
import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.stdin.read()).query)["code"][0])')"
c --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" --data-urlencode "code_verifier=$verifier" \
    --data-urlencode "redirect_uri=$redirect" --data-urlencode "client_id=$client_id" --data-urlencode "resource=$wiki/mcp" \
    "$wiki/-/oauth/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
