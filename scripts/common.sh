# Sourced by the set-up scripts: `log` (tagged with $LOG_TAG, on stderr) and `retry`.

log() { printf '[%s] %s\n' "${LOG_TAG:-qorovul}" "$*" >&2; }

# Retries a command: apt and registries fail transiently (dpkg "archive not found", timeouts).
retry() {
  local n=1
  until "$@"; do
    if (( n >= 4 )); then log "giving up after $n tries: $*"; return 1; fi
    log "retrying in $((n * 5))s ($n/3): $*"; sleep $((n * 5)); n=$((n + 1))
  done
}
