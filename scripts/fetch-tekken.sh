#!/usr/bin/env bash
# Fetch Mistral's Tekken tokenizers (tekken_240718.json, tekken_240911.json) as the PyPI
# package mistral-common ships them (Apache-2.0), for the Tekken tests: the wheel is
# downloaded once, checked against its published sha256, and the two files unpacked.
# Prints the folder that holds them; progress goes to stderr.
# Cache folder: $TOKENAUDIT_TEKKEN_DIR, default target/tekken in the repository.
set -euo pipefail

VERSION=1.13.1
SHA256=98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST=${TOKENAUDIT_TEKKEN_DIR:-$ROOT/target/tekken}/mistral-common-$VERSION
FILES="tekken_240718.json tekken_240911.json"

if [ -f "$DEST/.complete" ]; then
  echo "$DEST"
  exit 0
fi
mkdir -p "$DEST"
exec 9>"$DEST/.lock"
flock 9
if [ -f "$DEST/.complete" ]; then
  echo "$DEST"
  exit 0
fi
WORK=$(mktemp -d "$DEST/fetch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "fetching mistral-common $VERSION from PyPI for its tekken files" >&2
URL=$(curl -fsSL https://pypi.org/simple/mistral-common/ \
  | grep -o "https://[^\"#]*/mistral_common-$VERSION-py3-none-any\.whl" | head -1)
[ -n "$URL" ] || { echo "mistral_common-$VERSION wheel not found on PyPI" >&2; exit 1; }
curl -fsSL -o "$WORK/w.whl" "$URL"
echo "$SHA256  $WORK/w.whl" | sha256sum -c --quiet >&2
for f in $FILES; do
  if command -v unzip >/dev/null 2>&1; then
    unzip -p "$WORK/w.whl" "mistral_common/data/$f" > "$WORK/$f"
  else
    python3 -c "import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))" \
      "$WORK/w.whl" "mistral_common/data/$f" > "$WORK/$f"
  fi
  mv "$WORK/$f" "$DEST/$f"
done
touch "$DEST/.complete"
echo "$DEST"
