#!/usr/bin/env bash
# Install genred as a systemd service on Raspberry Pi OS 64-bit (bookworm, trixie) or
# Debian. Idempotent: run it again to upgrade; /etc/genred/config.yaml is kept.
#
#   sudo deploy/install.sh              install or upgrade from this source tree
#   sudo deploy/install.sh --uninstall  stop and remove the service, venv and user
#                                       (the config in /etc/genred is kept)
#   sudo deploy/install.sh --purge      --uninstall, and remove /etc/genred too
set -euo pipefail

# DESTDIR: put the files under another root (the tests use it, with stand-ins for
# systemctl and the user tools); empty for a real installation.
DESTDIR="${DESTDIR:-}"
PREFIX="$DESTDIR/opt/genred"
CONF_DIR="$DESTDIR/etc/genred"
UNIT_DIR="$DESTDIR/etc/systemd/system"
UNIT="$UNIT_DIR/genred.service"
SERVICE_USER=genred
# Debian's own interpreter: a pyenv or conda python3 first on root's PATH lives under
# /root, and a venv made from it cannot be run by the service user.
PYTHON=/usr/bin/python3
SRC="$(cd "$(dirname "$0")/.." && pwd)"

die() { echo "install.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (sudo $0 $*)"

uninstall() {
    systemctl disable --now genred.service 2>/dev/null || true
    rm -f "$UNIT" "$UNIT_DIR/multi-user.target.wants/genred.service"
    [ -d /run/systemd/system ] && systemctl daemon-reload
    rm -rf "$PREFIX"
    if id "$SERVICE_USER" >/dev/null 2>&1; then userdel "$SERVICE_USER" || true; fi
    if [ "${1:-}" = purge ]; then
        rm -rf "$CONF_DIR"
        echo "genred removed, and its config: removed $CONF_DIR"
    else
        echo "genred removed; the config in $CONF_DIR is kept (--purge removes it)"
    fi
}

case "${1:-}" in
    --uninstall) uninstall; exit 0 ;;
    --purge) uninstall purge; exit 0 ;;
    "") ;;
    *) die "unknown option '$1' (use --uninstall or --purge)" ;;
esac

arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
case "$arch" in
    arm64|aarch64|amd64|x86_64) ;;
    *) die "architecture $arch is not supported: use Raspberry Pi OS 64-bit (ai-edge-litert has no 32-bit wheels)" ;;
esac

echo "== system packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3 python3-venv python3-pip libportaudio2 libsndfile1 >/dev/null

echo "== user $SERVICE_USER (group audio)"
if ! id "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir "$PREFIX" --shell /usr/sbin/nologin "$SERVICE_USER"
fi
usermod -a -G audio "$SERVICE_USER"

echo "== virtual environment in $PREFIX/venv"
mkdir -p "$PREFIX"
# A venv made by another interpreter (an earlier install that used root's python3) is rebuilt.
if [ -f "$PREFIX/venv/pyvenv.cfg" ] && ! grep -qx "home = /usr/bin" "$PREFIX/venv/pyvenv.cfg"; then
    echo "   $PREFIX/venv was made by $(sed -n 's/^home = //p' "$PREFIX/venv/pyvenv.cfg"): rebuilding it from $PYTHON"
    rm -rf "$PREFIX/venv"
fi
[ -x "$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install -q --upgrade pip
# A regular (not editable) install of the runtime set only: no TensorFlow on the device.
"$PREFIX/venv/bin/pip" install -q --upgrade "$SRC"
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"

echo "== configuration in $CONF_DIR"
install -d -m 0755 "$CONF_DIR"
if [ ! -f "$CONF_DIR/config.yaml" ]; then
    install -m 0644 "$SRC/deploy/config.example.yaml" "$CONF_DIR/config.yaml"
    echo "   wrote $CONF_DIR/config.yaml: set device_id and mqtt.host"
else
    echo "   kept $CONF_DIR/config.yaml"
fi
install -m 0644 "$SRC/deploy/config.example.yaml" "$CONF_DIR/config.example.yaml"
# As the service user, as systemd will run it: the venv, the model and the files the
# config names must be readable by it, not only by root.
runuser -u "$SERVICE_USER" -- "$PREFIX/venv/bin/genred" check-config "$CONF_DIR/config.yaml" >/dev/null \
    || die "genred check-config $CONF_DIR/config.yaml failed as user $SERVICE_USER (see above); fix it and run again"

echo "== systemd unit"
install -m 0644 "$SRC/deploy/genred.service" "$UNIT"
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable genred.service >/dev/null
    systemctl restart genred.service
    echo "genred is running: journalctl -u genred -f"
else
    # A container or an image being built: enabling works offline, starting does not.
    systemctl enable genred.service >/dev/null 2>&1 || ln -sf "$UNIT" "$UNIT_DIR/multi-user.target.wants/genred.service"
    echo "systemd is not running here: genred.service is enabled and starts at the next boot"
fi
