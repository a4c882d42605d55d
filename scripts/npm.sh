# Sourced by the install scripts of the test clients that npm installs
# (the console's browser tests, the Iceberg readers, the SQS server):
# sets NPM to how npm runs here: on PATH, else the copy Node.js ships under
# /usr/lib/node_modules (an image may have it only under a leftover upgrade
# folder), else Debian's, installed when running as root. It does not say
# whether npm works: the caller checks "${NPM[@]}" --version.
NPM=(npm)
if ! command -v npm >/dev/null; then
  cli=$(ls /usr/lib/node_modules/npm/bin/npm-cli.js /usr/lib/node_modules/.npm-*/bin/npm-cli.js 2>/dev/null | head -1)
  if [ -n "$cli" ] && command -v node >/dev/null; then
    NPM=(node "$cli")
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's npm for the tests' npm clients" >&2
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null 2>&1
  fi
fi
