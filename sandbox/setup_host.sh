#!/bin/sh
# Prepare a host for ctrl's sandbox (idempotent; run as root; safe to re-run).
#
# - installs firejail when missing (Debian/Ubuntu: apt-get);
# - creates one unprivileged user per worker slot, ctrl-sbx0..ctrl-sbx$((N-1)) (default N=8), each with
#   its own group, shell /bin/sh and home /var/lib/ctrl-sandbox/<user> (mode 700);
# - lists them in /etc/firejail/firejail.users: firejail runs a user it does not allow *unsandboxed*
#   (that is why the slot users are never `nobody`, which firejail never allows). NOTE: if the file did
#   not exist, creating it means only the listed users (and root) may use firejail on this host.
#
# Usage: sudo sh sandbox/setup_host.sh [N_SLOTS]      then check: python -m sandbox doctor
set -eu

N="${1:-${CTRL_SANDBOX_SLOTS:-8}}"
BASE=/var/lib/ctrl-sandbox
USERS_FILE=/etc/firejail/firejail.users

if [ "$(id -u)" -ne 0 ]; then
    echo "setup_host.sh: must run as root (it creates users and edits $USERS_FILE); try: sudo sh $0" >&2
    exit 1
fi

if ! command -v firejail >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "setup_host.sh: installing firejail with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firejail >/dev/null
    else
        echo "setup_host.sh: firejail is missing and apt-get is not available; install firejail (>= 0.9.72) and re-run" >&2
        exit 1
    fi
fi
if [ ! -x /usr/bin/python3 ]; then
    echo "setup_host.sh: /usr/bin/python3 is missing; the jailed worker needs the system Python (apt-get install python3)" >&2
    exit 1
fi

mkdir -p "$BASE" /etc/firejail
chmod 755 "$BASE"
touch "$USERS_FILE"

i=0
while [ "$i" -lt "$N" ]; do
    u="ctrl-sbx$i"
    home="$BASE/$u"
    if ! id -u "$u" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir "$home" --no-create-home --shell /bin/sh \
            --comment "ctrl sandbox slot $i" "$u"
    fi
    mkdir -p "$home"
    chown "$u:$u" "$home"
    chmod 700 "$home"
    if ! grep -qx "$u" "$USERS_FILE"; then
        echo "$u" >>"$USERS_FILE"
    fi
    i=$((i + 1))
done

# Creating firejail.users restricts firejail to the users it lists; keep the admin who ran us allowed.
if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && ! grep -qx "$SUDO_USER" "$USERS_FILE"; then
    echo "$SUDO_USER" >>"$USERS_FILE"
fi

echo "setup_host.sh: $N sandbox users ready (ctrl-sbx0..ctrl-sbx$((N - 1))), listed in $USERS_FILE"
