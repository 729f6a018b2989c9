#!/usr/bin/env bash
# Every shell command block of README.md and docs/*.md (fenced sh, bash,
# console or shell, and indented blocks) runs as written in CI or says why
# not. The line above each block is a marker:
#   <!-- ci: NAME -->             a script extracts the block by NAME and runs
#                                 it ("run_doc_block NAME", "run_script NAME"
#                                 or "doc_block PAGE NAME")
#   <!-- ci: run by SCRIPT ... --> SCRIPT (one or more, "and") holds every
#                                 command line of the block, or prints it
#                                 when called with --print-doc-blocks
#   <!-- ci: not run: REASON -->  it cannot run here, and why
# The check fails on a block with none of these. Then this script runs its
# own blocks: it builds bin/ as the README does, and, in a network
# namespace of their own where the defaults (127.0.0.1:50051, :8443) are
# free (on the host network when none can be made), the README's first
# "go run ./server" and its walk-through, the grpcurl and healthcheck
# recipes of docs/cli.md and docs/operations.md, the SQLite backup of
# docs/deploy.md, the migrate commands, and the buf checks of
# docs/development.md. Doc placeholders ("<charge_id printed above>", the
# example session ID) are filled from the output before them; every
# "echo "exit $?"   # ..., exit N" is checked against N.
# Benchmark commands (docs/benchmarks/) are only named, not run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

fail() {
	echo "doc-commands: FAIL: $*" >&2
	exit 1
}

# doc_block PAGE NAME prints the block of PAGE under <!-- ci: NAME -->,
# fenced or indented (the indent removed).
doc_block() {
	awk -v marker="<!-- ci: $2 -->" '
		{ line = $0; sub(/^[[:space:]]+/, "", line) }
		!armed && line == marker { armed = 1; next }
		armed && !inside && /^[[:space:]]*$/ { next }
		armed && /^[[:space:]]*```/ { if (inside) exit; inside = 1; fenced = 1; next }
		armed && !inside && /^    / { inside = 1 }
		inside && !fenced && /^[[:space:]]*$/ { held = held "\n"; next }
		inside && !fenced && !/^    / { exit }
		inside { printf "%s", held; held = ""; print (fenced ? $0 : substr($0, 5)) }
	' "$root/$1"
}

# normalized: each command line without indent or trailing comment.
normalized() {
	sed 's/^[[:space:]]*//; s/[[:space:]]\{1,\}#.*$//; s/^#.*$//; s/[[:space:]]*$//' | grep -v '^$' || true
}

if [[ "${1:-}" != --inside ]]; then
	# ---- the check: every shell block has a marker that holds ----
	scripts=(.ci/*.sh clients/*/ci.sh)
	blocks=0
	while IFS=$'\t' read -r page line marker; do
		blocks=$((blocks + 1))
		where="$page:$line"
		case "$marker" in
		"<!-- ci: not run: "?*" -->")
			echo "$where: not run: ${marker#<!-- ci: not run: }" | sed 's/ -->$//'
			;;
		"<!-- ci: run by "*" -->")
			spec="${marker#<!-- ci: run by }"
			spec="${spec% -->}"
			spec="${spec%%;*}"
			read -ra named <<<"${spec// and / }"
			text="$(awk -v n="$line" '
				NR <= n { next }
				NR == n + 1 && /^[[:space:]]*```/ { fenced = 1; next }
				fenced && /^[[:space:]]*```/ { exit }
				fenced { print; next }
				/^    / { print; next }
				/^[[:space:]]*$/ { next }
				{ exit }' "$page" | normalized)"
			have=""
			for s in "${named[@]}"; do
				[[ -f "$s" ]] || fail "$where: the marker names $s, which does not exist"
				have+="$(normalized <"$s")"$'\n'
				if grep -q -- '--print-doc-blocks' "$s"; then
					have+="$(bash "$s" --print-doc-blocks </dev/null | normalized)"$'\n'
				fi
			done
			while IFS= read -r l; do
				grep -qF -- "$l" <<<"$have" ||
					fail "$where: ${named[*]} neither holds nor extracts the line: $l"
			done <<<"$text"
			echo "$where: run by ${named[*]} (every line found)"
			;;
		"<!-- ci: "*" -->")
			name="${marker#<!-- ci: }"
			name="${name% -->}"
			[[ "$name" =~ ^[a-z0-9-]+$ ]] || fail "$where: unknown marker $marker"
			runs="((run_doc_block|run_script) $name|doc_block $page $name)"'([[:space:])"]|$)'
			grep -qE -- "$runs" "${scripts[@]}" ||
				fail "$where: no CI script runs the block named $name"
			[[ -n "$(doc_block "$page" "$name")" ]] || fail "$where: the block named $name is empty"
			echo "$where: run as $name by $(grep -lE -- "$runs" "${scripts[@]}" | tr '\n' ' ')"
			;;
		*)
			fail "$where: a shell block with no marker (<!-- ci: NAME -->, <!-- ci: run by SCRIPT -->, <!-- ci: not run: REASON -->) on the line above"
			;;
		esac
	done < <(for page in README.md docs/*.md; do
		awk -v page="$page" '
			/^[[:space:]]*```/ {
				if (fence) { fence = 0; next }
				fence = 1
				if ($0 ~ /```(sh|bash|console|shell)[[:space:]]*$/) print page "\t" NR - 1 "\t" last
				last = $0; next
			}
			fence { next }
			/^    [^[:space:]*-]/ && blank && !code { code = 1; print page "\t" NR - 1 "\t" last }
			/^    / && code { next }
			/^[[:space:]]*$/ { blank = 1; next }
			{ code = 0; blank = 0; last = $0; sub(/^[[:space:]]+/, "", last) }
		' "$page"
	done)
	echo "doc-commands: $blocks shell blocks in README.md and docs/*.md, each run in CI or with its reason"
	echo "doc-commands: benchmark commands (docs/benchmarks/, docs/development.md#benchmarks) are named, not run"

	[[ "${1:-}" == --check-only ]] && exit 0
	# ---- the blocks this script runs ----
	missing=()
	command -v sqlite3 >/dev/null || missing+=(sqlite3)
	command -v curl >/dev/null || missing+=(curl)
	if ((${#missing[@]})); then
		echo "doc-commands: installing ${missing[*]}"
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >/dev/null
	fi
	# Outside the namespace: they need the module cache or git.
	echo "--- README.md, build:"
	doc_block README.md build
	bash -euo pipefail -c "$(doc_block README.md build)"
	echo "--- docs/development.md, buf-checks:"
	if git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null && git cat-file -e 'HEAD~1:proto' 2>/dev/null; then
		bash -euo pipefail -c "$(doc_block docs/development.md buf-checks)"
		echo "doc-commands: buf lint, format and breaking as written: clean"
	else
		# As .ci/run: a shallow clone has no HEAD~1 to compare with.
		bash -euo pipefail -c "$(doc_block docs/development.md buf-checks | grep -v 'buf breaking')"
		echo "doc-commands: buf lint and format as written: clean (no HEAD~1 for buf breaking)"
	fi
	# The README's first command compiles the server with "go run": do that
	# here, where the module cache is reachable, so that the run below only
	# links.
	go build -o /dev/null ./server
	go tool -modfile=tools/grpcurl/go.mod grpcurl -version

	if command -v unshare >/dev/null && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
		echo "doc-commands: running the servers in a network namespace of their own"
		exec unshare -n bash "$root/.ci/doc-commands.sh" --inside
	fi
	for port in 50051 8443; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			fail "127.0.0.1:$port is taken and no network namespace can be made: the documented defaults need it"
		fi
	done
	exec bash "$root/.ci/doc-commands.sh" --inside
fi

# ---- inside: the servers on their documented defaults ----
ip link set lo up 2>/dev/null || true
work="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
# Nothing from the caller's environment reaches the servers: the docs run
# them on their defaults.
for v in $(env | sed -n 's/^\(\(DATA_DIR\|DATABASE_URL\|LISTEN_ADDR\|SIMULATOR_[A-Z_]*\|METRICS_ADDR\|AMAZON_PAY_[A-Z_]*\|IPN_[A-Z_]*\|TLS_[A-Z_]*\|AUTH_[A-Z_]*\|LOG_LEVEL\|EMBEDDED_SIMULATOR\|OTEL_[A-Z_]*\)\)=.*/\1/p'); do
	unset "$v"
done
export GOPROXY=off

# ready waits, bounded, for the gRPC health of the server on the defaults.
ready() {
	for _ in $(seq 1 300); do
		"$root/bin/server" healthcheck >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fail "the server did not get ready in 60 s: $(tail -n 5 "$1")"
}

# run_script NAME DIR PAGE [PRELUDE]: runs the block NAME of PAGE in DIR
# (after the commands PRELUDE, if any), as written
# but with its placeholders filled, its output in DIR/out.log, and after
# each line a check: a non-zero status fails unless the line prints it
# with 'echo "exit $?"', which is then compared with the comment's
# "exit N". The whole script is bounded at 90 s.
run_script() {
	local name="$1" dir="$2" page="$3" text
	text="$(doc_block "$page" "$name")"
	[[ -n "$text" ]] || fail "$page has no block marked ci: $name"
	echo "--- $page, $name:"
	printf '%s\n' "$text"
	{
		echo 'log="$PWD/out.log"; exec >>"$log" 2>&1'
		echo 'printed() { grep -E "^ *$1: " "$log" | tail -n 1 | awk "{print \$2}"; }'
		echo 'check() { if [[ "$2" != "$3" ]]; then echo "doc-commands: line $1 ended $2, want $3" >&2; exit 1; fi; }'
		printf '%s\n' "${4:-}"
		local n=0 line want
		while IFS= read -r line; do
			n=$((n + 1))
			[[ "$line" =~ ^[[:space:]]*(#|$) ]] && { printf '%s\n' "$line"; continue; }
			line="$(sed -E 's/<([a-z_]+) printed above>/$(printed \1)/g' <<<"$line")"
			printf '%s\n' "$line"
			[[ "$line" == *'\' ]] && continue # the command goes on
			if [[ "$line" == *'echo "exit $?"'* ]]; then
				want="$(sed -nE 's/.*#.*exit ([0-9]+)[^#]*$/\1/p' <<<"$line")"
				[[ -n "$want" ]] || fail "$page, $name: line $n prints its status but no comment says which"
				echo "check $n \"\$(tail -n 1 \"\$log\")\" \"exit $want\""
			elif [[ "$line" != *'&' ]]; then
				echo "check $n \$? 0"
			fi
		done <<<"$text"
	} >"$dir/$name.sh"
	local status=0 p
	# timeout runs in a process group of its own: stopping that group
	# afterwards stops a server the block left running when it failed.
	(cd "$dir" && exec timeout 90 bash "$name.sh" 2>>"$dir/out.log") &
	p=$!
	wait "$p" || status=$?
	kill -KILL -- "-$p" 2>/dev/null || true
	cat "$dir/out.log"
	mv "$dir/out.log" "$dir/$name.log"
	[[ "$status" -eq 0 ]] || fail "$page, $name ended $status (124: the 90 s bound); server log: $(tail -n 5 "$dir/server.log" 2>/dev/null)"
}

# The README's first command, on its defaults (data in ./data), in a copy
# of nothing: "go run" needs the repository, so it runs there with the
# data directory moved out of it. Ctrl-C is SIGINT to the process group.
echo "--- README.md, go-run:"
doc_block README.md go-run
mkdir "$work/gorun"
(cd "$root" && DATA_DIR="$work/gorun/data" exec setsid bash -c "$(doc_block README.md go-run)" >"$work/gorun/server.log" 2>&1) &
pids+=("$!")
for _ in $(seq 1 600); do
	grep -q '"msg":"serving"' "$work/gorun/server.log" && break
	kill -0 "${pids[-1]}" 2>/dev/null || fail "go run ./server exited: $(tail -n 5 "$work/gorun/server.log")"
	sleep 0.2
done
grep -q '"msg":"serving"' "$work/gorun/server.log" || fail "go run ./server not serving in 120 s"
grep -q '"listen_addr":"127.0.0.1:50051"' "$work/gorun/server.log" || fail "go run ./server is not on 127.0.0.1:50051: $(grep serving "$work/gorun/server.log")"
kill -INT -- "-${pids[-1]}"
wait "${pids[-1]}" || true
for _ in $(seq 1 100); do
	"$root/bin/server" healthcheck >/dev/null 2>&1 || break
	sleep 0.2
done
echo "doc-commands: go run ./server served on 127.0.0.1:50051 and stopped on Ctrl-C (SIGINT)"

# The walk-through, from a directory with the README's bin/.
mkdir "$work/walk"
ln -s "$root/bin" "$work/walk/bin"
run_script walkthrough "$work/walk" README.md

# The reference recipes against one server on its defaults.
mkdir "$work/ref"
ln -s "$root/bin" "$work/ref/bin"
(cd "$work/ref" && exec bin/server >server.log 2>&1) &
pids+=("$!")
ready "$work/ref/server.log"
run_script healthcheck "$work/ref" docs/operations.md
# grpcurl as docs/cli.md defines it, from the repository root.
run_script needs-attention "$work/ref" docs/operations.md \
	"shopt -s expand_aliases; cd \"$root\"; $(doc_block docs/cli.md grpcurl | grep '^alias grpcurl=')"
# docs/cli.md's example session ID stands for one from the simulator.
sid="$(cd "$work/ref" && bin/democheckout -amount 14.00 -scenario Authorized)"
cli="$(doc_block docs/cli.md grpcurl)"
[[ "$cli" == *3f8c1b9e-5b2a-4c1d-9e7f-2a6b8c0d4e1f* ]] || fail "docs/cli.md's grpcurl block no longer shows the example session ID"
echo "--- docs/cli.md, grpcurl (the example session ID replaced by $sid):"
printf '%s\n' "$cli"
out="$(cd "$root" && timeout 90 bash -euo pipefail -O expand_aliases -c "${cli//3f8c1b9e-5b2a-4c1d-9e7f-2a6b8c0d4e1f/$sid}" 2>&1)" ||
	fail "docs/cli.md's grpcurl block: $out"
printf '%s\n' "$out" | tail -n 25
for want in '"status": "SERVING"' '"outcome": "OUTCOME_COMPLETED"' 'rpc CompleteCheckout'; do
	grep -qF -- "$want" <<<"$out" || fail "docs/cli.md's grpcurl block printed no $want"
done
kill -TERM "${pids[-1]}"
wait "${pids[-1]}" || fail "the server exited $? on SIGTERM"

# The SQLite backup of docs/deploy.md, on the data the server left.
run_script sqlite-backup "$work/ref" docs/deploy.md
[[ "$(tail -n 1 "$work/ref/sqlite-backup.log")" == ok && -s "$work/ref/vacuum.db" ]] ||
	fail "docs/deploy.md's SQLite backup: no integrity ok, or no vacuum.db"

# docs/simulator.md's clock call: its first line is the command, its
# second the answer, whose shape is checked. The simulator's certificate
# is taken from where the server writes it.
text="$(doc_block docs/simulator.md simulator-clock)"
echo "--- docs/simulator.md, simulator-clock:"
printf '%s\n' "$text"
mkdir "$work/clock"
ln -s "$root/bin" "$work/clock/bin"
(cd "$work/clock" && SIMULATOR_CLOCK=manual exec bin/server >server.log 2>&1) &
pids+=("$!")
ready "$work/clock/server.log"
cp "$work/clock/data/simulator/simulator-cert.pem" "$work/clock/"
out="$(cd "$work/clock" && timeout 30 bash -c "$(head -n 1 <<<"$text")" 2>curl.err)" || fail "the clock call: $out $(cat "$work/clock/curl.err")"
echo "$out"
shape='^\{"manual":true,"now":"[0-9]{8}T[0-9]{6}Z"\}$'
[[ "$(tail -n 1 <<<"$text")" =~ $shape ]] || fail "docs/simulator.md shows an answer of another shape"
[[ "$out" =~ $shape ]] || fail "the clock call answered $out, not the shape docs/simulator.md shows"
kill -TERM "${pids[-1]}"
wait "${pids[-1]}" || fail "the server exited $? on SIGTERM"

# migrate: on a new data directory status lists a pending migration and
# exits 3, up applies it.
mkdir "$work/mig"
ln -s "$root/bin" "$work/mig/bin"
text="$(doc_block docs/operations.md migrate)"
echo "--- docs/operations.md, migrate:"
printf '%s\n' "$text"
mapfile -t lines <<<"$text"
status=0
out="$(cd "$work/mig" && bash -c "${lines[0]}" 2>&1)" || status=$?
[[ "$status" -eq 3 ]] || fail "migrate status on a new data directory ended $status, want 3: $out"
out="$(cd "$work/mig" && bash -c "${lines[1]}" 2>&1)" || fail "migrate up: $out"
printf '%s\n' "$out"
out="$(cd "$work/mig" && bash -c "${lines[0]}" 2>&1)" || fail "migrate status after up: $out"
printf '%s\n' "$out"
echo "doc-commands: all blocks marked for this script ran as written"
