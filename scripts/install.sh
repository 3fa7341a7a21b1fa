#!/usr/bin/env bash
# Installs robot as a service on a Debian 12 machine, idempotently (run it again to
# upgrade): the `robot` system user, /var/lib/robot (data, mode 0750) and /etc/robot, the
# binary in /usr/local/bin, the hardened systemd unit, the embedding model, and Caddy in
# front with the repository's Caddyfile.
#
#   sudo ROBOT_DOMAIN=example.org ACME_EMAIL=you@example.org scripts/install.sh
#
# Then give Caddy your DNS provider's module and credentials for the wildcard certificate
# (see Caddyfile), and point *.example.org and example.org at this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) == 0 ]] || { echo "install: run as root (sudo)" >&2; exit 1; }
: "${ROBOT_DOMAIN:?set ROBOT_DOMAIN, e.g. ROBOT_DOMAIN=example.org}"
data=/var/lib/robot

echo "install: packages"
scripts/setup.sh
have() { command -v "$1" >/dev/null 2>&1; }
have caddy || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq caddy

echo "install: user and directories"
id robot >/dev/null 2>&1 || useradd --system --home-dir "$data" --shell /usr/sbin/nologin robot
install -d -o robot -g robot -m 0750 "$data"
install -d -m 0755 /etc/robot
if [[ ! -f /etc/robot/robot.env ]]; then
    install -m 0640 -g robot /dev/null /etc/robot/robot.env
    cat >/etc/robot/robot.env <<ENV
ROBOT_DOMAIN=$ROBOT_DOMAIN
ROBOT_LISTEN=127.0.0.1:8080
ROBOT_SCHEME=https
# Caddy on this machine; the unit sets the same (a proxy elsewhere: name it here).
ROBOT_TRUSTED_PROXIES=127.0.0.1/8,::1
# ROBOT_ADMIN_DIDS=did:plc:...
ENV
fi

echo "install: binary"
cargo build --release --locked
install -m 0755 target/release/robot /usr/local/bin/robot.new
mv -f /usr/local/bin/robot.new /usr/local/bin/robot
install -d /usr/local/share/doc/robot
install -m 0644 README.md /usr/local/share/doc/robot/README.md

echo "install: embedding model"
ROBOT_DATA_DIR="$data" scripts/fetch-model.sh >/dev/null
chown -R robot:robot "$data/model"

echo "install: systemd units"
install -d -o robot -g robot -m 0750 /var/backups/robot
install -m 0644 systemd/robot.service systemd/robot-backup.service systemd/robot-backup.timer /etc/systemd/system/
# Without a running systemd (a container, an image being built) the units are installed
# and enabled on the next boot, but nothing can be started now.
running_systemd() { [[ -d /run/systemd/system ]]; }
if running_systemd; then
    systemctl daemon-reload
    systemctl enable robot.service robot-backup.timer
    systemctl restart robot.service
    systemctl start robot-backup.timer
else
    systemctl enable robot.service robot-backup.timer >/dev/null 2>&1 || true
    echo "install: systemd is not running here: units installed and enabled, not started" >&2
fi

echo "install: Caddy"
install -d /etc/caddy/caddy
install -m 0644 Caddyfile /etc/caddy/Caddyfile
install -m 0644 caddy/*.caddy /etc/caddy/caddy/
grep -q '^ROBOT_DOMAIN=' /etc/default/caddy 2>/dev/null ||
    printf 'ROBOT_DOMAIN=%s\nACME_EMAIL=%s\n' "$ROBOT_DOMAIN" "${ACME_EMAIL:-}" >>/etc/default/caddy
install -d /etc/systemd/system/caddy.service.d
printf '[Service]\nEnvironmentFile=-/etc/default/caddy\nWorkingDirectory=/etc/caddy\n' >/etc/systemd/system/caddy.service.d/robot.conf
if ! running_systemd; then
    echo "install: systemd is not running here: start Caddy yourself (caddy run --config /etc/caddy/Caddyfile)" >&2
elif (set -a && . /etc/default/caddy && cd /etc/caddy && caddy validate --config /etc/caddy/Caddyfile --adapter caddyfile >/dev/null 2>&1); then
    systemctl daemon-reload
    systemctl enable caddy
    systemctl reload-or-restart caddy
else
    echo "install: Caddy's config does not validate yet: it needs your DNS provider's module (see /etc/caddy/Caddyfile)" >&2
fi
echo "install: done. robot: systemctl status robot; logs: journalctl -u robot"
