# Sourced by the scripts that compare the programs the docs show with the
# files CI runs.

# example_block PAGE PATH: prints the fenced block of PAGE under the marker
# <!-- example: PATH -->.
example_block() {
	awk -v marker="<!-- example: $2 -->" '
		$0 == marker { armed = 1; next }
		armed && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }
	' "$1"
}
