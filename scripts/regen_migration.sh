#!/usr/bin/env bash
# Regenerate the single initial migration from the models (allowed until the first release).
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/omnicrm-regen.lock; flock 9
tmp=$(mktemp -d)
mkdir -p "$tmp/aside"
# later, hand-written migrations (0002_*, ...) step aside while 0001 is rebuilt
find migrations/versions -maxdepth 1 -name '0*.py' ! -name '0001_*' -exec mv {} "$tmp/aside/" \;
rm -f migrations/versions/0001_initial_schema.py
OMNICRM_INSTANCE_DIR="$tmp" DATABASE_URL= .venv/bin/flask --app run db migrate -m "initial schema" --rev-id 0001 >/dev/null 2>&1
sed -i 's/astext_type=Text()/astext_type=sa.Text()/g' migrations/versions/0001_initial_schema.py
mv "$tmp"/aside/*.py migrations/versions/ 2>/dev/null || true
rm -rf "$tmp"
echo "regenerated migrations/versions/0001_initial_schema.py"
