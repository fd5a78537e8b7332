#!/usr/bin/env bash
# Build the migrator.
#   ./build.sh         .venv with the package and its test tools; dist/ with what spark-submit ships to a cluster:
#                        dist/main.py (the application), dist/migrator.zip (--py-files),
#                        dist/migrator-env.tar.gz (--archives: Python dependencies for executors that lack them),
#                        dist/log4j2.properties (the driver's quiet console: Spark's INFO lines off, conf/)
#   ./build.sh test    build, then run the whole test suite (unit and integration); arguments go to pytest, so
#                      ./build.sh test tests/unit -q runs only those
#   ./build.sh lint    set up .venv, then run the linter (ruff) over migrator/ and tests/; arguments go to ruff
#   ./build.sh bench   build, then run the benchmark (tests/bench); extra arguments go to it, see --help
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=$ROOT/.venv

log() { printf 'build.sh: %s\n' "$*" >&2; }

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { log "needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 2; }

# The venv is reused while pyproject.toml is unchanged, apart from the linter's settings ([tool.ruff*] tables).
deps_hash=$("$PYTHON" - <<'PY'
import hashlib, re
text = open("pyproject.toml", encoding="utf-8").read()
text = re.sub(r"^\[tool\.ruff[^\n]*\n(?:(?!\[).*\n?)*", "", text, flags=re.M).rstrip("\n") + "\n"
print(hashlib.sha256(text.encode()).hexdigest()[:16])
PY
)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.deps-hash" 2>/dev/null)" != "$deps_hash" ]; then
  log "installing the package and its dependencies into .venv"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e ".[test]"
  echo "$deps_hash" > "$VENV/.deps-hash"
  rm -f dist/migrator-env.tar.gz
fi

if [ "${1:-}" = lint ]; then shift; exec "$VENV/bin/ruff" check migrator tests "$@"; fi  # its rules: pyproject.toml

# dynalite: the fast local DynamoDB used by the demo, tests and benchmarks (npm registry).
if [ ! -x node_modules/.bin/dynalite ]; then
  if command -v npm >/dev/null; then
    log "installing dynalite (npm)"
    npm install --silent --no-audit --no-fund --no-save dynalite@4 >/dev/null
  else
    log "npm not found: dynalite-based tests and benchmarks will be skipped by name"
  fi
fi

mkdir -p dist build
# The application: spark-submit puts this file's folder first on sys.path, so it lives alone in dist/.
cat > dist/main.py <<'PY'
from migrator.cli import main

raise SystemExit(main())
PY
cp conf/log4j2.properties dist/log4j2.properties
rm -f dist/migrator.zip
(cd "$ROOT" && "$VENV/bin/python" - <<'PY'
import pathlib, zipfile
with zipfile.ZipFile("dist/migrator.zip", "w", zipfile.ZIP_DEFLATED) as zf:
    for path in sorted(pathlib.Path("migrator").rglob("*")):
        # the demo's servers and sample data run on the driver only: they do not ship to executors
        if path.is_file() and "__pycache__" not in path.parts and path.parts[1] != "demo":
            zf.write(path)
PY
)

# Executors get pyspark from their Spark installation; the packed environment carries everything else.
if [ ! -f dist/migrator-env.tar.gz ]; then
  log "packing the executor environment (dist/migrator-env.tar.gz)"
  rm -rf build/exec-env
  "$PYTHON" -m venv build/exec-env
  runtime_deps=$("$VENV/bin/python" - <<'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(" ".join(d for d in deps if not d.lower().startswith("pyspark")))
PY
)
  # shellcheck disable=SC2086
  build/exec-env/bin/python -m pip install --quiet --disable-pip-version-check $runtime_deps
  "$VENV/bin/venv-pack" --quiet -p build/exec-env -o dist/migrator-env.tar.gz --force
fi
log "built dist/main.py, dist/migrator.zip, dist/migrator-env.tar.gz, dist/log4j2.properties"

export PATH="$VENV/bin:$ROOT/node_modules/.bin:$PATH"
export SPARK_LOCAL_IP=127.0.0.1
case "${1:-}" in
  test) shift; exec "$VENV/bin/python" -m pytest "$@" ;;  # no path given: pyproject.toml's testpaths, tests/
  bench) shift; exec "$VENV/bin/python" -m tests.bench "$@" ;;
  "") ;;
  *) log "unknown command '$1'; use ./build.sh, ./build.sh test, ./build.sh lint or ./build.sh bench"; exit 2 ;;
esac
