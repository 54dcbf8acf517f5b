#!/usr/bin/env bash
# Installs the Debian packages Cabdesk needs, if they are missing: redis-server, postgresql, chromium, npm.
# Needs root (or sudo) and the Debian package mirror; says clearly what to do when it cannot.
set -euo pipefail

declare -A command_of=([redis-server]=redis-server [postgresql]=initdb [chromium]=chromium [npm]=npm)
missing=()
for package in "$@"; do
  probe=${command_of[$package]:-$package}
  if [ "$probe" = initdb ]; then
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=("$package")
  else
    command -v "$probe" >/dev/null 2>&1 || missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "Cabdesk needs these Debian packages: ${missing[*]}" >&2
  echo "Install them as root:  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing ${missing[*]} with apt-get…"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
