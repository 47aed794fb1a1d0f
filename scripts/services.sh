#!/usr/bin/env bash
# Runs real Apache Kafka, Apache Cassandra and Redis on this machine, without Docker, for
# local development and CI. (With Docker, reference-server/compose.yaml does the same.)
#
#   bash scripts/services.sh start [kafka|cassandra|redis|all]...   (default: all)
#   bash scripts/services.sh stop  [kafka|cassandra|redis|all]...   (default: all)
#   bash scripts/services.sh status
#   bash scripts/services.sh env          export lines for the Parley environment variables
#   bash scripts/services.sh logs <svc> [-f]
#
# Kafka and Cassandra run from their Maven Central jars, fetched once by Maven into a
# cache folder with the throwaway POMs in services/<svc>/pom.xml; Redis is Debian's
# redis-server (installed with apt-get when missing). Every service listens on 127.0.0.1
# only. `start` returns once each service answers; it is idempotent, and a service whose
# process died is started afresh. See services/README.md.
#
# Environment (all optional):
#   PARLEY_SERVICES_CACHE   jars and Maven repository (default ~/.cache/parley/services)
#   PARLEY_SERVICES_DATA    pid files, logs, data (default $PARLEY_SERVICES_CACHE/data)
#   PARLEY_KAFKA_PORT (9092), PARLEY_KAFKA_CONTROLLER_PORT (9093),
#   PARLEY_CASSANDRA_PORT (9042), PARLEY_CASSANDRA_STORAGE_PORT (7000), PARLEY_REDIS_PORT (6379)
#   PARLEY_KAFKA_HEAP, PARLEY_CASSANDRA_HEAP   JVM max heap (default 512m each)
#   PARLEY_KAFKA_TIMEOUT (120), PARLEY_CASSANDRA_TIMEOUT (300), PARLEY_REDIS_TIMEOUT (30)
#                           seconds to wait for a service to answer
#   PARLEY_SERVICES_STOP_TIMEOUT (30)   seconds between SIGTERM and SIGKILL
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
templates="$root/services"

# Every service binds this address only.
readonly host=127.0.0.1
readonly all_services=(kafka cassandra redis)
# SimpleSnitch (services/cassandra/cassandra.yaml.tmpl) names the one data center this.
readonly cassandra_datacenter=datacenter1

cache="${PARLEY_SERVICES_CACHE:-${HOME:-/tmp}/.cache/parley/services}"
data="${PARLEY_SERVICES_DATA:-$cache/data}"

kafka_port="${PARLEY_KAFKA_PORT:-9092}"
kafka_controller_port="${PARLEY_KAFKA_CONTROLLER_PORT:-9093}"
cassandra_port="${PARLEY_CASSANDRA_PORT:-9042}"
cassandra_storage_port="${PARLEY_CASSANDRA_STORAGE_PORT:-7000}"
redis_port="${PARLEY_REDIS_PORT:-6379}"
kafka_heap="${PARLEY_KAFKA_HEAP:-512m}"
cassandra_heap="${PARLEY_CASSANDRA_HEAP:-512m}"
kafka_timeout="${PARLEY_KAFKA_TIMEOUT:-120}"
cassandra_timeout="${PARLEY_CASSANDRA_TIMEOUT:-300}"
redis_timeout="${PARLEY_REDIS_TIMEOUT:-30}"
stop_timeout="${PARLEY_SERVICES_STOP_TIMEOUT:-30}"

java="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# Absolute paths: they end up in config files and in a file:// URL.
cache="$(realpath -m "$cache")"
data="$(realpath -m "$data")"

say() { echo "services: $*"; }
warn() { echo "services: $*" >&2; }
die() {
  echo "services: error: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# ---------------------------------------------------------------------------------------
# Paths and processes

pid_file() { echo "$data/run/$1.pid"; }
log_file() { echo "$data/logs/$1.log"; }

# A word of the command line that tells the service's process from any other process
# that may have been given the same pid since.
process_marker() {
  case $1 in
    kafka) echo kafka.Kafka ;;
    cassandra) echo org.apache.cassandra.service.CassandraDaemon ;;
    redis) echo redis-server ;;
  esac
}

service_port() {
  case $1 in
    kafka) echo "$kafka_port" ;;
    cassandra) echo "$cassandra_port" ;;
    redis) echo "$redis_port" ;;
  esac
}

# Alive and not a zombie (a process this shell started and that has exited stays a zombie
# until reaped, and `kill -0` still succeeds on it).
alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n $state && $state != Z* ]]
}

# Prints the pid of the service's running process; fails when it is not running.
running_pid() {
  local file pid
  file="$(pid_file "$1")"
  [[ -s $file ]] || return 1
  pid="$(<"$file")"
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$(process_marker "$1")" || return 1
  echo "$pid"
}

# Removes the pid file of a service whose process is gone (after a crash or reboot).
clean_stale() {
  local file
  file="$(pid_file "$1")"
  if [[ -e $file ]] && ! running_pid "$1" >/dev/null; then
    say "$1: removing stale pid file (pid $(cat "$file" 2>/dev/null) is not running)"
    rm -f "$file"
  fi
}

# True when something accepts TCP connections on $host:$1. Bash's /dev/tcp needs no
# client tool; `timeout` guards against a connect that hangs.
port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$1" 2>/dev/null
}

port_owner() {
  if command -v ss >/dev/null; then
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\(.*\)))/\1/p' | head -n 1
  fi
}

require_port_free() {
  local svc=$1 port=$2 owner
  if port_open "$port"; then
    owner="$(port_owner "$port")"
    die "$svc: port $host:$port is already in use${owner:+ by $owner}, not by a process this script started." \
      "Stop that process, or move $svc with the PARLEY_*_PORT variables (see bash scripts/services.sh help)."
  fi
}

# Keeps the previous run's log as <svc>.log.1 so that readiness checks read this run only.
rotate_log() {
  local log
  log="$(log_file "$1")"
  mkdir -p "$(dirname "$log")"
  if [[ -e $log ]]; then mv -f "$log" "$log.1"; fi
  : >"$log"
}

# Starts a long-running command in the background, detached from this shell: its own
# session (setsid) so Ctrl-C here or the end of a CI step does not kill it, stdin from
# /dev/null, stdout and stderr appended to the service's log (where the service's own
# logging also goes), and fd 9 (the lock below) closed so the service does not hold it.
# The inner shell writes its pid to the pid file and then execs the command, so the pid
# file names the server process itself.
launch() {
  local svc=$1
  shift
  local log pidf
  log="$(log_file "$svc")"
  pidf="$(pid_file "$svc")"
  rm -f "$pidf"
  # shellcheck disable=SC2016 # $$ and $1 are expanded by the inner shell
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' launch "$pidf" "$@" \
    </dev/null >>"$log" 2>&1 9>&- &
  disown || true
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidf ]] && return 0
    sleep 0.1
  done
  die "$svc: the process did not start; see $log"
}

# Fills @NAME@ placeholders of a template: render SRC DEST NAME=value...
render() {
  local src=$1 dest=$2 content pair
  shift 2
  content="$(<"$src")"
  for pair in "$@"; do
    content="${content//@${pair%%=*}@/${pair#*=}}"
  done
  if [[ $content =~ @[A-Z_]+@ ]]; then die "render $src: no value for ${BASH_REMATCH[0]}"; fi
  printf '%s\n' "$content" >"$dest"
}

# ---------------------------------------------------------------------------------------
# Jars (Kafka, Cassandra)

require_java() {
  command -v "$java" >/dev/null || die "java not found; install a JDK 17 (apt-get install -y openjdk-17-jdk-headless) or set JAVA_HOME"
  local version major
  version="$("$java" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)"
  major="${version%%.*}"
  [[ $major =~ ^[0-9]+$ && $major -ge 17 ]] ||
    die "Kafka 4 and Cassandra 5 here need Java 17 or newer; $java is version '${version:-unknown}' (set JAVA_HOME)"
}

# Copies the runtime jars of services/<svc>/pom.xml into $cache/<svc>/lib, once: the lib
# folder is reused while the POM is unchanged (its checksum is kept in lib/.pom.sha256).
# Maven's own repository lives in the cache too, so the cache folder holds everything.
fetch_jars() {
  local svc=$1 dir lib sum
  dir="$cache/$svc"
  lib="$dir/lib"
  sum="$(sha256sum "$templates/$svc/pom.xml" | cut -d' ' -f1)"
  if [[ -f $lib/.pom.sha256 && "$(<"$lib/.pom.sha256")" == "$sum" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found; install Maven (apt-get install -y maven)"
  mkdir -p "$dir"
  cp "$templates/$svc/pom.xml" "$dir/pom.xml"
  rm -rf "$lib.tmp"
  say "$svc: downloading jars from Maven Central into $lib (first run only) ..."
  local t0=$SECONDS
  # -B: no progress bars; -q: only errors. The plugin is pinned so the same jars come out
  # on every machine. includeScope=runtime takes compile+runtime jars. Maven 3.8 prints
  # stray colour codes even in batch mode: sed strips them.
  if ! mvn -B -q -Dmaven.repo.local="$cache/m2" -f "$dir/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$lib.tmp" 2>&1 |
    sed -u $'s/\e\\[[0-9;]*m//g' >&2; then
    rm -rf "$lib.tmp"
    die "$svc: Maven could not fetch the jars (see the messages above)"
  fi
  echo "$sum" >"$lib.tmp/.pom.sha256"
  rm -rf "$lib"
  mv "$lib.tmp" "$lib"
  say "$svc: $(find "$lib" -name '*.jar' | wc -l) jars, $(du -sh "$lib" | cut -f1) in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------------------------------
# Kafka

kafka_prepare() {
  require_java
  require_port_free kafka "$kafka_port"
  require_port_free kafka "$kafka_controller_port"
  fetch_jars kafka
  local dir="$data/kafka"
  mkdir -p "$dir/kraft"
  render "$templates/kafka/server.properties.tmpl" "$dir/server.properties" \
    "PORT=$kafka_port" "CONTROLLER_PORT=$kafka_controller_port" "LOG_DIRS=$dir/kraft"
  cp "$templates/kafka/log4j2.properties" "$dir/log4j2.properties"
  rotate_log kafka
  if [[ ! -f $dir/kraft/meta.properties ]]; then
    # A KRaft cluster id is 16 random bytes in URL-safe base64 without padding.
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
    say "kafka: formatting the log directory $dir/kraft (cluster id $cluster_id)"
    # No --standalone: the quorum is the static controller.quorum.voters of the config.
    "$java" -Xmx256m -Dlog4j2.configurationFile="$dir/log4j2.properties" \
      -Dparley.log.file="$(log_file kafka)" -cp "$cache/kafka/lib/*" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      --ignore-formatted >>"$(log_file kafka)" 2>&1 ||
      die "kafka: formatting the storage failed; see $(log_file kafka)"
  fi
}

kafka_launch() {
  local dir="$data/kafka"
  # G1 with short pauses, as Kafka's own start scripts do; headless, no GUI toolkit.
  # A JVM that ran out of heap is in an unknown state: let it die (and say so in the log).
  launch kafka "$java" "-Xmx$kafka_heap" -XX:+ExitOnOutOfMemoryError \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dparley.log.file="$(log_file kafka)" \
    -cp "$cache/kafka/lib/*" kafka.Kafka "$dir/server.properties"
}

# The PLAINTEXT port opens once the broker has its metadata; the log line comes last.
kafka_ready() {
  port_open "$kafka_port" && grep -q 'Kafka Server started' "$(log_file kafka)"
}

# ---------------------------------------------------------------------------------------
# Cassandra

cassandra_prepare() {
  require_java
  require_port_free cassandra "$cassandra_port"
  require_port_free cassandra "$cassandra_storage_port"
  fetch_jars cassandra
  local dir="$data/cassandra"
  mkdir -p "$dir/data"
  render "$templates/cassandra/cassandra.yaml.tmpl" "$dir/cassandra.yaml" \
    "NATIVE_PORT=$cassandra_port" "STORAGE_PORT=$cassandra_storage_port"
  cp "$templates/cassandra/logback.xml" "$dir/logback.xml"
  rotate_log cassandra
}

cassandra_launch() {
  local dir="$data/cassandra" lib="$cache/cassandra/lib" jamm
  jamm="$(find "$lib" -name 'jamm-*.jar' | head -n 1)"
  [[ -n $jamm ]] || die "cassandra: no jamm jar in $lib"
  local opts=(
    "-Xmx$cassandra_heap"
    # A JVM that ran out of heap is in an unknown state: let it die (and say so in the log).
    -XX:+ExitOnOutOfMemoryError
    # Cassandra's own defaults: G1, small thread stacks (it runs many threads), no
    # hsperfdata file in /tmp (its writes can stall the JVM), IPv4 sockets.
    -XX:+UseG1GC -XX:MaxGCPauseMillis=300 -Xss256k -XX:+PerfDisableSharedMem
    -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true
    # jamm measures object sizes for memtable accounting; it must be a Java agent.
    "-javaagent:$jamm"
    # Java 17 module access that Cassandra 5.0 needs (its conf/jvm17-server.options);
    # without it startup dies with InaccessibleObjectException.
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    # Lets Netty allocate direct buffers through Unsafe on Java 9+.
    -Dio.netty.tryReflectionSetAccessible=true
    # The config must be given as a URL.
    "-Dcassandra.config=file://$dir/cassandra.yaml"
    # Data, commit log, hints and saved caches all go under this folder.
    "-Dcassandra.storagedir=$dir/data"
    # Without it Cassandra closes stdout/stderr, and JVM crash messages would be lost.
    -Dcassandra-foreground=yes
    "-Dlogback.configurationFile=$dir/logback.xml" "-Dparley.log.file=$(log_file cassandra)"
    # A single node: do not wait for gossip to settle, do not reload the saved ring.
    -Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.load_ring_state=false
  )
  launch cassandra "$java" "${opts[@]}" -cp "$lib/*" org.apache.cassandra.service.CassandraDaemon
}

# The native (CQL) port opens near the end of startup; "Startup complete" is the last line.
cassandra_ready() {
  port_open "$cassandra_port" && grep -q 'Startup complete' "$(log_file cassandra)"
}

# ---------------------------------------------------------------------------------------
# Redis

redis_prepare() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    if [[ $(id -u) -ne 0 ]]; then
      die "redis-server is not installed; run: sudo apt-get update && sudo apt-get install -y redis-server"
    fi
    say "redis: installing redis-server with apt-get ..."
    local t0=$SECONDS
    # Lock::Timeout: wait (up to 5 min) for another apt-get to finish instead of failing.
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq ||
      ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        redis-server >/dev/null; then
      die "redis: apt-get could not install redis-server (see the messages above)"
    fi
    say "redis: installed $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') in $((SECONDS - t0))s"
  fi
  # On a machine with systemd, installing the package also starts a system-wide Redis on
  # 6379: the check below says so rather than talking to that one.
  require_port_free redis "$redis_port"
  mkdir -p "$data/redis"
  rotate_log redis
}

redis_launch() {
  # In the foreground (daemonize no) so that the pid file names it; no RDB snapshots and no
  # AOF: test data need not survive a restart.
  launch redis redis-server --bind "$host" --port "$redis_port" --daemonize no \
    --save '' --appendonly no --dir "$data/redis" --logfile "$(log_file redis)"
}

redis_ready() {
  [[ "$(redis-cli -h "$host" -p "$redis_port" ping 2>/dev/null)" == PONG ]]
}

# ---------------------------------------------------------------------------------------
# Commands

service_timeout() {
  case $1 in
    kafka) echo "$kafka_timeout" ;;
    cassandra) echo "$cassandra_timeout" ;;
    redis) echo "$redis_timeout" ;;
  esac
}

# One look at a just-launched service: returns 0 once it answers, 2 while it may still
# come up, 1 when it has failed (its process exited, or it ran out of time: then what is
# left of it is stopped). On failure it prints the end of the service's log.
check_started() {
  local svc=$1 elapsed=$2 pid log timeout
  log="$(log_file "$svc")"
  pid="$(cat "$(pid_file "$svc")" 2>/dev/null || true)"
  if "${svc}_ready"; then
    say "$svc: ready on $host:$(service_port "$svc") after ${elapsed}s (pid $pid)"
    return 0
  fi
  if [[ -z $pid ]] || ! alive "$pid"; then
    warn "$svc: the process${pid:+ (pid $pid)} exited during startup; last lines of $log:"
    tail -n 25 "$log" | sed 's/^/    /' >&2
    rm -f "$(pid_file "$svc")"
    return 1
  fi
  timeout="$(service_timeout "$svc")"
  if ((elapsed >= timeout)); then
    warn "$svc: not answering after ${elapsed}s (PARLEY_${svc^^}_TIMEOUT=$timeout); last lines of $log:"
    tail -n 15 "$log" | sed 's/^/    /' >&2
    stop_one "$svc" >&2 || true
    return 1
  fi
  return 2
}

cmd_start() {
  local services=("$@") svc pid
  local -a to_start=()
  local -A started=()
  mkdir -p "$data/run" "$data/logs"
  for svc in "${services[@]}"; do
    if pid="$(running_pid "$svc")"; then
      say "$svc: already running (pid $pid) on $host:$(service_port "$svc")"
      continue
    fi
    clean_stale "$svc"
    to_start+=("$svc")
  done
  ((${#to_start[@]})) || return 0

  # Downloads and config first, one service at a time; then every server is launched at
  # once (Kafka and Cassandra start in parallel) and all are polled until they answer.
  for svc in "${to_start[@]}"; do "${svc}_prepare"; done
  for svc in "${to_start[@]}"; do
    say "$svc: starting (log: $(log_file "$svc"))"
    started[$svc]=$SECONDS
    "${svc}_launch"
  done
  local pending=("${to_start[@]}") failed=() waiting=() rc next=5
  while ((${#pending[@]})); do
    waiting=()
    for svc in "${pending[@]}"; do
      rc=0
      check_started "$svc" $((SECONDS - started[$svc])) || rc=$?
      case $rc in
        1) failed+=("$svc") ;;
        2) waiting+=("$svc") ;;
      esac
    done
    pending=("${waiting[@]}")
    ((${#pending[@]})) || break
    if ((SECONDS - started[${pending[0]}] >= next)); then
      local what=""
      for svc in "${pending[@]}"; do
        what+="${what:+, }$svc on port $(service_port "$svc") ($((SECONDS - started[$svc]))s)"
      done
      say "waiting for $what ..."
      next=$((next + 5))
    fi
    sleep 0.5
  done
  if ((${#failed[@]})); then die "failed to start: ${failed[*]}"; fi
}

# SIGTERM, then SIGKILL after $stop_timeout seconds.
stop_one() {
  local svc=$1 pid t0=$SECONDS next=5
  if ! pid="$(running_pid "$svc")"; then
    clean_stale "$svc"
    say "$svc: not running"
    return 0
  fi
  say "$svc: stopping (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    local elapsed=$((SECONDS - t0))
    if ((elapsed >= stop_timeout)); then
      say "$svc: still running after ${elapsed}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    if ((elapsed >= next)); then
      say "$svc: waiting for pid $pid to exit ... ${elapsed}s"
      next=$((next + 5))
    fi
    sleep 0.5
  done
  rm -f "$(pid_file "$svc")"
  say "$svc: stopped after $((SECONDS - t0))s"
}

cmd_stop() {
  local svc
  for svc in "$@"; do stop_one "$svc"; done
}

cmd_status() {
  local svc pid port state rss etime
  for svc in "${all_services[@]}"; do
    port="$(service_port "$svc")"
    if pid="$(running_pid "$svc")"; then
      read -r rss etime < <(ps -o rss=,etime= -p "$pid")
      if "${svc}_ready"; then state=running; else state="running, not answering yet"; fi
      printf '%-10s %-28s pid %-8s %s:%-6s rss %5d MiB  up %s\n' \
        "$svc" "$state" "$pid" "$host" "$port" "$((rss / 1024))" "$etime"
    elif [[ -e $(pid_file "$svc") ]]; then
      printf '%-10s %-28s (pid %s is gone; the next start cleans up)\n' "$svc" "crashed" "$(cat "$(pid_file "$svc")")"
    elif port_open "$port"; then
      printf '%-10s %-28s %s:%s is taken by another process\n' "$svc" "stopped" "$host" "$port"
    else
      printf '%-10s %s\n' "$svc" stopped
    fi
  done
}

cmd_env() {
  echo "export PARLEY_KAFKA_BROKERS=$host:$kafka_port"
  echo "export PARLEY_CASSANDRA_CONTACT_POINTS=$host:$cassandra_port"
  echo "export PARLEY_CASSANDRA_DATACENTER=$cassandra_datacenter"
  echo "export PARLEY_REDIS_URL=redis://$host:$redis_port"
}

cmd_logs() {
  [[ $# -ge 1 ]] || die "usage: services.sh logs <kafka|cassandra|redis> [-f]"
  local svc=$1 log
  [[ " ${all_services[*]} " == *" $svc "* ]] || die "unknown service '$svc' (kafka, cassandra, redis)"
  log="$(log_file "$svc")"
  [[ -e $log ]] || die "$svc: no log yet ($log)"
  if [[ ${2:-} == -f ]]; then exec tail -n 50 -F "$log"; fi
  tail -n 200 "$log"
}

# Sets `services` from the command's arguments: "all" or no name means every service.
parse_services() {
  local arg svc names
  services=()
  if (($# == 0)); then set -- all; fi
  for arg in "$@"; do
    case $arg in
      all) names=("${all_services[@]}") ;;
      kafka | cassandra | redis) names=("$arg") ;;
      *) die "unknown service '$arg' (kafka, cassandra, redis or all)" ;;
    esac
    for svc in "${names[@]}"; do
      [[ " ${services[*]} " == *" $svc "* ]] || services+=("$svc")
    done
  done
}

# One start or stop at a time: two shells starting the same service would both see it
# stopped and both launch it. The lock is fd 9, which launch() closes for the servers.
take_lock() {
  mkdir -p "$data/run"
  exec 9>"$data/run/.lock"
  if ! flock -n 9; then
    say "another services.sh start/stop is running; waiting for it ..."
    flock -w 900 9 || die "timed out waiting for the lock $data/run/.lock"
  fi
}

main() {
  local cmd="${1:-help}"
  (($# == 0)) || shift
  local services=()
  case $cmd in
    start | stop)
      parse_services "$@"
      take_lock
      "cmd_$cmd" "${services[@]}"
      ;;
    status) cmd_status ;;
    env) cmd_env ;;
    logs) cmd_logs "$@" ;;
    help | -h | --help) usage ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
}

main "$@"
