#!/usr/bin/env bash
# Backup and restore, as docs/deploy.md describes them, on real databases:
# a completed payment is written through the server, the store is backed up
# while the server runs (SQLite: sqlite3 .backup and VACUUM INTO;
# PostgreSQL: pg_dump -Fc), the original is destroyed, the backup restored
# (a copy of the file; pg_restore into a new database), and a server on the
# restored store must answer the payment COMPLETED.
# Needs the local PostgreSQL that .ci/run starts; installs sqlite3 if missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v sqlite3 >/dev/null; then
	echo "backup: installing sqlite3"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null
fi

work="$(mktemp -d)"
pid=""
db="pcbackup_$$"
PGURL_BASE="postgres://postgres@127.0.0.1:5432"
cleanup() {
	if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	dropdb -h 127.0.0.1 -U postgres --if-exists "$db" 2>/dev/null || true
	dropdb -h 127.0.0.1 -U postgres --if-exists "${db}_restored" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "backup: FAIL: $*" >&2
	[[ -f "$work/server.log" ]] && tail -n 20 "$work/server.log" >&2
	exit 1
}

go build -o "$work/bin/" ./server ./client ./internal/cmd/democheckout

# start DATA_DIR [DATABASE_URL]: the server on loopback port 0 with the
# embedded simulator chosen explicitly; sets addr and sim.
start() {
	local data=$1 url=${2:-}
	DATA_DIR="$data" DATABASE_URL="$url" LISTEN_ADDR=127.0.0.1:0 SIMULATOR_ADDR=127.0.0.1:0 \
		EMBEDDED_SIMULATOR=true "$work/bin/server" >"$work/server.log" 2>&1 &
	pid=$!
	addr="" sim=""
	for _ in $(seq 1 300); do
		addr="$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
		sim="$(sed -n 's/.*"simulator_url":"https:\/\/\([^"]*\)".*/\1/p' "$work/server.log" | head -n1)"
		[[ -n "$addr" ]] && return 0
		kill -0 "$pid" 2>/dev/null || fail "server exited before serving"
		sleep 0.1
	done
	fail "server did not serve within 30s"
}

stop() {
	kill -TERM "$pid"
	wait "$pid" || fail "server exit status $? after SIGTERM"
	pid=""
}

complete() {
	local data=$1 order=$2 sid
	sid="$(DATA_DIR="$data" SIMULATOR_ADDR="$sim" "$work/bin/democheckout" -amount 14.00 -scenario Authorized)"
	"$work/bin/client" -addr "$addr" complete -session "$sid" -order "$order" -amount 14.00 -currency USD >/dev/null ||
		fail "completion of $order: exit $?"
}

expect_completed() {
	local order=$1 out
	out="$("$work/bin/client" -addr "$addr" payment -order "$order" 2>&1)" || fail "payment $order after restore: $out"
	grep -q 'COMPLETED' <<<"$out" || fail "payment $order after restore is not COMPLETED: $out"
}

echo "backup: SQLite: online backup while the server runs"
data="$work/sqlite"
start "$data"
complete "$data" backup-order-1
# The commands of docs/deploy.md, against the live database.
sqlite3 "$data/paymentcompletion.db" ".backup '$work/backup.db'"
sqlite3 "$data/paymentcompletion.db" "VACUUM INTO '$work/vacuum.db'"
complete "$data" backup-order-2 # written after the backup: must not be in it
stop
for backup in backup.db vacuum.db; do
	[[ "$(sqlite3 "$work/$backup" 'PRAGMA integrity_check')" == ok ]] || fail "$backup: integrity_check"
	restored="$work/restored-$backup"
	mkdir -p "$restored"
	cp "$work/$backup" "$restored/paymentcompletion.db"
	# The embedded simulator's state is test scaffolding, not the store.
	cp -r "$data/simulator" "$restored/simulator"
	start "$restored"
	expect_completed backup-order-1
	if "$work/bin/client" -addr "$addr" payment -order backup-order-2 >/dev/null 2>&1; then
		fail "$backup holds a payment written after it was taken"
	fi
	stop
	echo "backup: SQLite $backup restored: backup-order-1 COMPLETED, nothing newer"
done

echo "backup: PostgreSQL: pg_dump -Fc, pg_restore into a new database"
createdb -h 127.0.0.1 -U postgres "$db"
data="$work/pg"
start "$data" "$PGURL_BASE/$db?sslmode=disable"
complete "$data" backup-order-3
pg_dump -h 127.0.0.1 -U postgres -Fc -f "$work/payments.dump" "$db"
stop
dropdb -h 127.0.0.1 -U postgres "$db"
createdb -h 127.0.0.1 -U postgres "${db}_restored"
pg_restore -h 127.0.0.1 -U postgres --no-owner -d "${db}_restored" "$work/payments.dump"
start "$data" "$PGURL_BASE/${db}_restored?sslmode=disable"
expect_completed backup-order-3
stop
echo "backup: PostgreSQL restored: backup-order-3 COMPLETED"
echo "backup: all checks passed"
