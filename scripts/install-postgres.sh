#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages when its server programs are
# missing: the tests of the PostgreSQL catalog start a throw-away cluster
# (internal/testutil/pgserver). Idempotent; needs root and apt-get.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "PostgreSQL is missing and cannot be installed here (needs root and apt-get): install Debian's postgresql" >&2
  exit 1
fi
echo "installing PostgreSQL from Debian's packages" >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
