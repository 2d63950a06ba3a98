# shellcheck shell=bash
# Shared helpers for rowcast's scripts/deps and scripts/services.
# Source it; it defines functions and a few variables, runs nothing else.

# Absolute path of the project top (parent of the scripts folder).
ROWCAST_SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# shellcheck disable=SC2034  # used by the scripts that source this file
ROWCAST_TOP=$(cd "$ROWCAST_SCRIPTS_DIR/.." && pwd -P)

rc_log() { printf '%s\n' "$*"; }
rc_err() { printf '%s\n' "$*" >&2; }
rc_die() { rc_err "$*"; exit 1; }

# Milliseconds since the epoch, from bash's own clock (no fork).
rc_now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    printf '%s' "${t:0:${#t}-3}"
}

# rc_secs_since START_MS -> "2.93"
rc_secs_since() {
    local d=$(( $(rc_now_ms) - $1 ))
    printf '%d.%02d' $(( d / 1000 )) $(( (d % 1000) / 10 ))
}

# Turn a possibly relative path into an absolute one (need not exist).
rc_abspath() {
    case $1 in
        /*) printf '%s' "$1" ;;
        *) printf '%s/%s' "$(pwd -P)" "$1" ;;
    esac
}

# True when TCP port $2 on host $1 accepts a connection.
rc_port_open() {
    local host=$1 port=$2
    # shellcheck disable=SC2016  # $0 $1 expand in the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null
}

# True when pid $1 is alive and (if $2 is given) its command name starts
# with $2 (comm is cut to 15 characters by the kernel).
rc_pid_alive() {
    local pid=$1 want=${2:-} comm
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -n $want ]]; then
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
        [[ $comm == "${want:0:15}"* ]] || return 1
        # a zombie is not alive
        local state
        state=$(awk '/^State:/ {print $2; exit}' "/proc/$pid/status" 2>/dev/null) || return 1
        [[ $state != Z ]] || return 1
    fi
    return 0
}

# Pid read from file $1 if that process is alive (and named $2), else fails.
rc_pidfile_pid() {
    local file=$1 want=${2:-} pid
    [[ -s $file ]] || return 1
    pid=$(tr -dc '0-9' < "$file" 2>/dev/null) || return 1
    rc_pid_alive "$pid" "$want" || return 1
    printf '%s' "$pid"
}

# rc_stop_pid PID NAME LABEL [TIMEOUT]: SIGTERM, wait, then SIGKILL.
rc_stop_pid() {
    local pid=$1 want=$2 label=$3 limit=${4:-30} i
    rc_pid_alive "$pid" "$want" || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for (( i = 0; i < limit * 10; i++ )); do
        rc_pid_alive "$pid" "$want" || return 0
        sleep 0.1
    done
    rc_err "$label: pid $pid did not stop in ${limit} s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for (( i = 0; i < 50; i++ )); do
        rc_pid_alive "$pid" "$want" || return 0
        sleep 0.1
    done
    rc_err "$label: pid $pid still there after SIGKILL"
    return 1
}

# Print the last lines of a log file to stderr, framed.
rc_tail_log() {
    local file=$1 n=${2:-40}
    if [[ -s $file ]]; then
        rc_err "---- last $n lines of $file ----"
        tail -n "$n" "$file" >&2 || true
        rc_err "---- end of $file ----"
    else
        rc_err "(no log at $file)"
    fi
}

# Print lines of a log file from line $2 on (at most $3, default 40) to
# stderr, framed: the part a failed start wrote.
rc_tail_from() {
    local file=$1 from=${2:-1} n=${3:-40} text
    [[ -s $file ]] || return 0
    text=$(tail -n +"$from" "$file" | tail -n "$n") || true
    [[ -n $text ]] || return 0
    rc_err "---- $file (this start) ----"
    printf '%s\n' "$text" >&2
    rc_err "---- end of $file ----"
}

# Number of the line after the last one of file $1 (1 if it is absent).
rc_next_line() {
    if [[ -f $1 ]]; then
        printf '%d' $(( $(wc -l <"$1") + 1 ))
    else
        printf '1'
    fi
}
