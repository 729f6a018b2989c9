# Sourced by the clients' ci.sh, after they set "repo" to this checkout.

# run_doc_block NAME DIR: runs, in DIR with REPO set to this checkout, the
# command block of docs/clients.md marked <!-- ci: NAME -->.
run_doc_block() {
	local script
	script="$(awk -v marker="<!-- ci: $1 -->" '
		$0 == marker { armed = 1; next }
		armed && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }
	' "$repo/docs/clients.md")"
	[[ -n "$script" ]] || { echo "docs/clients.md has no block marked ci: $1"; exit 1; }
	echo "--- docs/clients.md, $1:"
	printf '%s\n' "$script"
	(cd "$2" && REPO="$repo" bash -euo pipefail -c "$script")
}
