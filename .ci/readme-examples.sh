#!/usr/bin/env bash
# Checks that every program a page of the documentation (README.md and
# docs/**/*.md) shows under an `<!-- example: PATH -->` marker is,
# character for character, the file at PATH that CI builds and runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=.ci/lib/example-block.bash
source .ci/lib/example-block.bash
found=0
while IFS= read -r page; do
	while IFS= read -r path; do
		found=$((found + 1))
		block="$(example_block "$page" "$path")"
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
