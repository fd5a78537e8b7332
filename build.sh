#!/usr/bin/env bash
# Build the migrator.
#   ./build.sh         .venv with the package and its test tools; dist/ with what spark-submit ships to a cluster:
#                        dist/main.py (the application), dist/migrator.zip (--py-files),
#                        dist/migrator-env.tar.gz (--archives: Python dependencies for executors that lack them),
#                        dist/log4j2.properties (the driver's quiet console: Spark's INFO lines off, conf/)
#   ./build.sh test    build, then run the whole test suite (unit and integration) in two pytest processes at once
#                      (tests/suite.py); arguments go to a single pytest instead, so ./build.sh test tests/unit -q
#                      runs only those
#   ./build.sh lint    set up .venv, then run the linter (ruff) over migrator/ and tests/; arguments go to ruff
#   ./build.sh bench   build, then run the benchmark (tests/bench); extra arguments go to it, see --help
#   ./build.sh spark35 build, then install Spark 3.5 (pyspark==3.5.*) with the runtime dependencies into
#                      build/spark35, kept while they and the interpreter are unchanged (./build.sh test does this
#                      too when it may run tests/integration/test_spark35.py)
# PYTHON=python3.12 ./build.sh packs for that interpreter: .venv (the driver's Python) and the executors' environment
# (build/exec-env, dist/migrator-env.tar.gz) are made anew when PYTHON names another version or installation.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
PYTHON=${PYTHON:-python3}
VENV=$ROOT/.venv

log() { printf 'build.sh: %s\n' "$*" >&2; }

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { log "needs Python 3.11 or newer; set PYTHON=/path/to/python3.11"; exit 2; }

# An interpreter's version and installation, e.g. "3.11.7 /usr": executors must run the Python the driver runs.
identity() { "$1" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)' 2>/dev/null || echo none; }
python_id=$(identity "$PYTHON")
if [ -x "$VENV/bin/python" ] && [ "$(identity "$VENV/bin/python")" != "$python_id" ]; then
  log ".venv runs Python $(identity "$VENV/bin/python"), PYTHON is $python_id: making .venv anew"
  rm -rf "$VENV"
fi

# The venv is reused while what pip installs from pyproject.toml ([project], [build-system]) is unchanged; the
# linter's and pytest's settings ([tool.*]) do not count.
deps_hash=$("$PYTHON" - <<'PY'
import hashlib, json, tomllib
doc = tomllib.load(open("pyproject.toml", "rb"))
installed = {key: doc.get(key) for key in ("build-system", "project")}
print(hashlib.sha256(json.dumps(installed, sort_keys=True).encode()).hexdigest()[:16])
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

# Executors get pyspark from their Spark installation; the packed environment carries everything else. Its
# bin/python links to PYTHON's path, so that path must hold the same Python on every executor host.
runtime_deps=$("$VENV/bin/python" - <<'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(" ".join(d for d in deps if not d.lower().startswith("pyspark")))
PY
)
if [ ! -f dist/migrator-env.tar.gz ] || [ "$(identity build/exec-env/bin/python)" != "$python_id" ]; then
  log "packing the executor environment for Python $python_id (dist/migrator-env.tar.gz)"
  rm -rf build/exec-env
  "$PYTHON" -m venv build/exec-env
  # shellcheck disable=SC2086
  build/exec-env/bin/python -m pip install --quiet --disable-pip-version-check $runtime_deps
  "$VENV/bin/venv-pack" --quiet -p build/exec-env -o dist/migrator-env.tar.gz --force
fi
log "built dist/main.py, dist/migrator.zip, dist/migrator-env.tar.gz, dist/log4j2.properties"

# Spark 3.5, as EMR 7, Dataproc 2.2 and the Databricks LTS runtimes run it: its own venv, whose python is both the
# driver's and the executors' in the smoke test (the pyspark they import must be the JVM's version).
SPARK35=$ROOT/build/spark35
spark35() {
  local want="pyspark==3.5.* $runtime_deps; Python $python_id"
  [ -x "$SPARK35/bin/spark-submit" ] && [ "$(cat "$SPARK35/.stamp" 2>/dev/null)" = "$want" ] && return
  log "installing Spark 3.5 (pyspark==3.5.*) and the runtime dependencies into build/spark35"
  rm -rf "$SPARK35"
  "$PYTHON" -m venv "$SPARK35"
  # shellcheck disable=SC2086
  "$SPARK35/bin/python" -m pip install --quiet --disable-pip-version-check "pyspark==3.5.*" $runtime_deps
  echo "$want" > "$SPARK35/.stamp"
}

# Whether pytest with these arguments may collect tests/integration/test_spark35.py: only paths under tests/unit or
# tests/bench rule it out (the value after -p, -k, -m, -o is not a path).
may_collect_spark35() {
  local arg skip="" paths=""
  for arg in "$@"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case "$arg" in
      -p|-k|-m|-o|-c|-W|--basetemp|--rootdir|--deselect|--ignore) skip=1 ;;
      -*) ;;
      tests/unit*|./tests/unit*|tests/bench*|./tests/bench*) paths=1 ;;
      *) return 0 ;;
    esac
  done
  [ -z "$paths" ]
}

export PATH="$VENV/bin:$ROOT/node_modules/.bin:$PATH"
export SPARK_LOCAL_IP=127.0.0.1
case "${1:-}" in
  test)
    shift
    # The whole suite, in two pytest processes at once (tests/suite.py); with arguments, pytest as given.
    if [ $# -eq 0 ]; then spark35; exec "$VENV/bin/python" -m tests.suite; fi
    if may_collect_spark35 "$@"; then spark35; fi
    exec "$VENV/bin/python" -m pytest "$@" ;;
  bench) shift; exec "$VENV/bin/python" -m tests.bench "$@" ;;
  spark35) spark35 ;;
  "") ;;
  *) log "unknown command '$1'; use ./build.sh, ./build.sh test, ./build.sh lint, ./build.sh bench" \
       "or ./build.sh spark35"; exit 2 ;;
esac
