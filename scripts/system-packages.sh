#!/usr/bin/env bash
# Installs the Debian packages Cabdesk needs, if they are missing: redis-server, postgresql, chromium, npm,
# nginx and openssl (the deployment test runs nginx over TLS in front of two web processes).
# Needs root (or sudo) and the Debian package mirror; says clearly what to do when it cannot.
set -euo pipefail

# nginx lives in /usr/sbin, which is not on an ordinary user's PATH: probe it by its full path.
declare -A command_of=([redis-server]=redis-server [postgresql]=initdb [chromium]=chromium [npm]=npm [nginx]=/usr/sbin/nginx)
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
# The packages' own services (nginx on port 80, a system Redis and PostgreSQL) are not wanted: the tests and the
# demo start servers of their own. Debian's policy-rc.d hook tells the packages not to start them (a failed start,
# e.g. port 80 taken, would fail the install).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
