#!/usr/bin/env bash
# Installs versitygw, the S3-compatible server the integration tests run on
# loopback, into .tools/bin. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=v1.8.0
BIN=.tools/bin/versitygw
if [ -x "$BIN" ] && [ "$(cat .tools/versitygw.version 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
mkdir -p .tools/bin
echo "installing versitygw $VERSION (first time: about 2 minutes)" >&2
GOBIN="$PWD/.tools/bin" GOFLAGS=-buildvcs=false go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
echo "$VERSION" > .tools/versitygw.version
