#!/usr/bin/env bash
# Checks that every program a page of the documentation (README.md and
# docs/**/*.md) shows under an `<!-- example: PATH -->` marker is,
# character for character, the file at PATH that CI builds and runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
found=0
while IFS= read -r page; do
	while IFS= read -r path; do
		found=$((found + 1))
		block="$(awk -v marker="<!-- example: $path -->" '
			$0 == marker { armed = 1; next }
			armed && /^```/ { if (inside) exit; inside = 1; next }
			inside { print }
		' "$page")"
		if [[ "$block" != "$(cat "$path")" ]]; then
			echo "$page's program for $path differs from the file:"
			diff <(printf '%s\n' "$block") "$path" || true
			exit 1
		fi
		echo "$page shows $path as it is"
	done < <(sed -n 's/^<!-- example: \(.*\) -->$/\1/p' "$page")
done < <(find README.md docs -name '*.md' | sort)
if [[ "$found" -eq 0 ]]; then
	echo "no example markers found in README.md or docs/"
	exit 1
fi
