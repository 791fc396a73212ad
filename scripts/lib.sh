# Sourced by the scripts that start bindsnoop. Its two stderr lines are an
# interface (Tests/EndToEndTests/Support/StatusLine.swift reads them the same
# way; CommandLineTests pins their fields):
#   bindsnoop: info: attached: tracing bind() in MODE mode live_after_ms=… mode=… programs=… …
#   bindsnoop: info: stopped dropped=… dropped_by_output=stdout:…,file:… events=… lost=… malformed=… rate_limited=… reason=…

# wait_attached STDERR_FILE PID: returns once the attached line is there; 1
# (with the stderr printed) if the process exits first. The caller deletes
# the previous run's file before starting bindsnoop.
wait_attached() {
    until grep -q 'info: attached: ' "$1" 2>/dev/null; do
        kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
        sleep 0.005
    done
}

# status_field STDERR_FILE attached|stopped KEY: the field's value from the last such line.
status_field() {
    local marker
    case "$2" in attached) marker='info: attached: ' ;; stopped) marker='info: stopped ' ;; *) return 2 ;; esac
    grep -F "$marker" "$1" | tail -1 | tr ' ' '\n' | sed -n "s/^$3=//p"
}
