#!/usr/bin/env bash
# Runs a checkout example of the docs (the command given as arguments, which
# takes SESSION_ID ORDER_ID AMOUNT CURRENCY) against the server at
# $PAYMENTCOMPLETION_ADDR with sessions from $DEMOCHECKOUT, and checks it
# branches right: completed, declined, and an amount mismatch (an error
# with ErrorInfo reason AMOUNT_MISMATCH).
set -euo pipefail

run_case() {
	local want="$1" scenario="$2" amount="$3" session out
	shift 3
	session="$("$DEMOCHECKOUT" -scenario "$scenario")"
	out="$("$@" "$session" "example-$RANDOM$RANDOM" "$amount" USD || true)"
	if [[ "$out" != "$want"* ]]; then
		echo "$* (session $scenario, amount $amount) printed \"$out\", want \"$want...\""
		exit 1
	fi
	echo "$out"
}

run_case COMPLETED Authorized 14.00 "$@"
run_case DECLINED Declined 14.00 "$@"
run_case AMOUNT_MISMATCH Authorized 15.00 "$@"
