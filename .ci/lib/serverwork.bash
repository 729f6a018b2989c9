# Sourced by the scripts that start the server binary themselves: a scratch
# directory "$work", removed on exit with the server (its pid in "$pid")
# killed if still running, and fail, which prints the server log. The
# sourcing script sets "name" (the prefix of its FAIL line) first.

work="$(mktemp -d)"
pid=""
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "$name: FAIL: $*" >&2
	if [[ -f "$work/server.log" ]]; then
		echo "--- server log ---" >&2
		cat "$work/server.log" >&2
	fi
	exit 1
}
