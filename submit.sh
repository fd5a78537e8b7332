#!/usr/bin/env bash
# Run a migration, or validate one, with spark-submit.
#   ./submit.sh CONFIG [spark-submit options]   e.g. ./submit.sh config.yaml --master spark://host:7077
#   ./submit.sh CONFIG --resume SAVEPOINT ...    skip what a savepoint (a file, or the newest in a directory) has done
#   ./submit.sh CONFIG --report PATH ...         also write a JSON run report there, and an HTML page beside it
#   ./submit.sh CONFIG --progress-interval S     a progress line every S seconds (default 10; 0: none)
#   ./submit.sh CONFIG --plan                    write nothing: print the tables, the tasks, the budgets, the expected
#                                                duration and the capacity units the copy would consume
#   ./submit.sh --validate CONFIG [--sample N] [--report PATH] [spark-submit options]
#                                                compare the target with the source (exit 0 same, 1 different, 2 error)
#   ./submit.sh --demo                           build if needed, then migrate a sample table between two local servers
# Options go before or after CONFIG, in any order: ./submit.sh --master spark://host:7077 --validate config.yaml works.
# Without --master the job runs in this machine's Spark: local[*,4], all cores and 4 attempts per task. With any
# other master the executors get the code from dist/migrator.zip and its Python dependencies from
# dist/migrator-env.tar.gz. SPARK_HOME, when set, names the Spark installation to submit with; else .venv's.
# SUBMIT_DRY_RUN=1 prints the spark-submit command instead of running it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")" && pwd)
VENV=$ROOT/.venv

usage() {
  echo "usage: ./submit.sh [spark-submit options] CONFIG [--plan] [--report PATH] [--progress-interval S]" \
       "[spark-submit options] | ./submit.sh --validate CONFIG [--sample N] [--report PATH] [spark-submit options]" \
       "| ./submit.sh --demo" >&2
  exit 2
}

# Built, and dist/migrator.zip is not older than the package's sources.
built() {
  [ -x "$VENV/bin/spark-submit" ] && [ -f "$ROOT/dist/main.py" ] && [ -f "$ROOT/dist/migrator-env.tar.gz" ] \
    && [ -f "$ROOT/dist/migrator.zip" ] && [ -z "$(find "$ROOT/migrator" -newer "$ROOT/dist/migrator.zip" -print -quit)" ] \
    && [ -f "$ROOT/dist/log4j2.properties" ] && [ ! "$ROOT/conf/log4j2.properties" -nt "$ROOT/dist/log4j2.properties" ]
}

[ $# -ge 1 ] || usage
if [ "$1" = "--demo" ]; then
  shift
  built || "$ROOT/build.sh"
  export PATH="$VENV/bin:$ROOT/node_modules/.bin:$PATH"
  export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
  exec "$VENV/bin/python" -m migrator.demo "$@"
fi
# The application's own options go after dist/main.py; everything else goes to spark-submit. Options may come before
# or after the config (spark-submit users put theirs first): the config is the one argument that is neither an
# option nor the value of one, so spark-submit's options that take a value are named here.
app_args=()
spark_args=()
validate=""
validate_only=""
config=""
case "$1" in -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
while [ $# -gt 0 ]; do
  case "$1" in
    --validate) validate=1; app_args+=(--validate); shift ;;
    --plan) app_args+=(--plan); shift ;;
    --sample)
      [ $# -ge 2 ] || usage
      validate_only=$1; app_args+=("$1" "$2"); shift 2 ;;
    --report|--progress-interval)
      [ $# -ge 2 ] || { echo "submit.sh: $1 needs a value" >&2; exit 2; }
      app_args+=("$1" "$2"); shift 2 ;;
    --report=*|--progress-interval=*) app_args+=("$1"); shift ;;
    --resume)
      [ $# -ge 2 ] || { echo "submit.sh: --resume needs a savepoint file or a directory of savepoints" >&2; exit 2; }
      app_args+=(--resume "$2"); shift 2 ;;
    --sample=*) validate_only=${1%%=*}; app_args+=("$1"); shift ;;
    --resume=*) app_args+=(--resume "${1#--resume=}"); shift ;;
    --master|--deploy-mode|--class|--name|--jars|--packages|--exclude-packages|--repositories|--py-files|--files \
    |--archives|--conf|-c|--properties-file|--driver-memory|--driver-java-options|--driver-library-path \
    |--driver-class-path|--executor-memory|--proxy-user|--driver-cores|--total-executor-cores|--executor-cores \
    |--num-executors|--principal|--keytab|--queue|--kill|--status|--remote)
      [ $# -ge 2 ] || { echo "submit.sh: spark-submit option $1 needs a value" >&2; exit 2; }
      spark_args+=("$1" "$2"); shift 2 ;;
    -*) spark_args+=("$1"); shift ;;
    *)
      [ -z "$config" ] || { echo "submit.sh: two configs given, '$config' and '$1'; give one YAML config" \
        "(spark-submit options that take a value: put the value right after the option)" >&2; exit 2; }
      config=$1; shift ;;
  esac
done
[ -n "$config" ] || usage
if [ -n "$validate_only" ] && [ -z "$validate" ]; then
  echo "submit.sh: $validate_only only applies to --validate; add --validate or remove it" >&2; exit 2
fi
set -- ${spark_args[@]+"${spark_args[@]}"}
[ -f "$config" ] || { echo "submit.sh: config file '$config' not found; pass the path of your YAML config" >&2; exit 2; }
config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
built || "$ROOT/build.sh"

master=""
prev=""
for arg in "$@"; do
  case "$arg" in --master=*) master=${arg#--master=} ;; esac
  [ "$prev" = "--master" ] && master=$arg
  prev=$arg
done

opts=(--conf "spark.scylla.config=$config" --py-files "$ROOT/dist/migrator.zip")
if [ -z "$master" ]; then
  master="local[*,4]"  # 4 attempts per task, as on a cluster
  opts+=(--master "$master")
fi
case "$master" in
  local*)
    # Local executors run this machine's .venv, which has everything.
    export SPARK_LOCAL_IP=${SPARK_LOCAL_IP:-127.0.0.1}
    opts+=(--conf "spark.pyspark.python=$VENV/bin/python")
    ;;
  *)
    opts+=(--archives "$ROOT/dist/migrator-env.tar.gz#environment"
           --conf spark.pyspark.python=./environment/bin/python
           --conf "spark.pyspark.driver.python=$VENV/bin/python")
    ;;
esac
# A Spark installation named by SPARK_HOME is used as it is; else the one pip installed into .venv.
if [ -z "${SPARK_HOME:-}" ]; then
  SPARK_HOME=$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
  export SPARK_HOME
fi
conf_dir=${SPARK_CONF_DIR:-$SPARK_HOME/conf}
# A user's own log4j2 configuration: -Dlog4j2.configurationFile among the spark-submit options, in spark-defaults.conf
# or in a --properties-file, or a log4j2 file in Spark's conf directory (on the driver's classpath; a .template
# file there is Spark's example, not a configuration).
user_log4j2() {
  local arg prev=""
  for arg in "$@"; do
    case "$arg" in *log4j2.configurationFile*|*log4j.configurationFile*) return 0 ;; esac
    if [ "$prev" = "--properties-file" ] && grep -qs "log4j2\{0,1\}\.configurationFile" "$arg"; then return 0; fi
    prev=$arg
  done
  grep -qs "log4j2\{0,1\}\.configurationFile" "$conf_dir/spark-defaults.conf" && return 0
  local name
  for name in log4j2-test.properties log4j2-test.xml log4j2.properties log4j2.xml log4j2.yaml log4j2.yml log4j2.json; do
    [ -f "$conf_dir/$name" ] && return 0
  done
  return 1
}
# The JVMs only schedule tasks (items never pass through them): the C1 JIT compiler and the serial collector are
# enough. Measured on a local[2] run: C2's compiling cost 4.5-6 s of CPU, and an empty job's CPU fell from 17 s to
# 8.7 s. The driver logs Spark's WARN lines and above only (dist/log4j2.properties), so that its ~50 INFO lines do
# not bury the migrator's; a local job's executors run in the driver's JVM, a cluster's log where the cluster keeps
# its logs. Left alone where the installation's spark-defaults.conf sets these keys; a user's own --conf overrides,
# and a user's own log4j2 configuration wins (user_log4j2).
if ! grep -qs "defaultJavaOptions" "$conf_dir/spark-defaults.conf"; then
  jvm_options="-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
  driver_options=$jvm_options
  user_log4j2 "$@" || driver_options+=" \"-Dlog4j2.configurationFile=$ROOT/dist/log4j2.properties\""
  opts+=(--conf "spark.driver.defaultJavaOptions=$driver_options" --conf "spark.executor.defaultJavaOptions=$jvm_options")
fi
command=("$SPARK_HOME/bin/spark-submit" "${opts[@]}" "$@" "$ROOT/dist/main.py" ${app_args[@]+"${app_args[@]}"})
if [ -n "${SUBMIT_DRY_RUN:-}" ]; then
  printf '%q ' "${command[@]}"; echo
  exit 0
fi
exec "${command[@]}"
