#!/usr/bin/env bash
# The container image: builds it with `make image`, then runs it as these
# machines allow (runc, cgroupfs, lowered ulimits, host network) on free
# loopback ports with the embedded simulator chosen explicitly, and checks
# what an operator relies on: grpc.health.v1 SERVING through the probe
# inside the image, a completion COMPLETED on the embedded simulator (the
# buyer played by democheckout, the call made by the client CLI), the
# stand-alone simulator entry point, and exit 0 on SIGTERM. Prints the
# image's size and its start time (run to SERVING).
#
# Installs podman with apt-get when missing. Where podman cannot run a
# container (no user namespaces, no runc), the run checks are skipped with
# a message saying so; the build still has to succeed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

IMAGE=${IMAGE:-paymentcompletion:ci}
PODMAN_RUN=(podman run --runtime runc --cgroup-manager cgroupfs
	--ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --network host)

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
	echo "image: installing podman and runc"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends podman runc ca-certificates >/dev/null
fi
podman --version

work="$(mktemp -d)"
container=""
cleanup() {
	if [[ -n "$container" ]]; then
		podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

fail() {
	echo "image: FAIL: $*" >&2
	if [[ -n "$container" ]]; then
		echo "--- container log ---" >&2
		podman logs "$container" >&2 2>&1 || true
	fi
	exit 1
}

echo "image: make image IMAGE=$IMAGE"
make image IMAGE="$IMAGE"
size_bytes="$(podman image inspect "$IMAGE" --format '{{.Size}}')"
echo "image: size $((size_bytes / 1024 / 1024)) MiB ($size_bytes bytes)"

# The image's own config: non-root numeric user, the data volume, the
# health check and the entry point.
config="$(podman image inspect "$IMAGE" --format '{{.Config.User}} {{json .Config.Volumes}} {{json .Config.Entrypoint}}')"
echo "image: config $config"
[[ "$config" == "65532:65532 "*'"/data"'*'paymentcompletion"]' ]] || fail "unexpected image config: $config"
podman image inspect "$IMAGE" --format '{{json .Config.Healthcheck}}' | grep -q grpc-health-probe ||
	fail "image has no grpc-health-probe HEALTHCHECK"

# The writable places: /data owned by the service's user, /tmp sticky.
# (Export needs no container runtime.)
listing_ctr="$(podman create --no-healthcheck "$IMAGE")"
podman export "$listing_ctr" | tar tvf - >"$work/files.txt"
podman rm "$listing_ctr" >/dev/null
grep -Eq '^drwxr-x--- nonroot/nonroot .* data/$' "$work/files.txt" || fail "/data is not 0750 nonroot: $(grep ' data/$' "$work/files.txt")"
grep -Eq '^drwxrwxrwt nonroot/nonroot .* tmp/$' "$work/files.txt" || fail "/tmp is not 1777: $(grep ' tmp/$' "$work/files.txt")"
grep -q ' etc/ssl/certs/ca-certificates.crt$' "$work/files.txt" || fail "no CA bundle in the image"
echo "image: files: $(grep -c '^-' "$work/files.txt") files; /data 0750 and /tmp 1777 owned by 65532; CA bundle present"

# Can this machine run a container at all?
if ! version_out="$("${PODMAN_RUN[@]}" --rm --no-healthcheck "$IMAGE" -version 2>"$work/run.err")"; then
	echo "image: SKIPPED running the image: podman cannot run containers on this machine:"
	tail -n 5 "$work/run.err"
	exit 0
fi
echo "image: -version in the image: $(head -n1 <<<"$version_out")"

go build -o "$work/bin/" ./client ./internal/cmd/democheckout
data="$work/data"
mkdir -p "$data"
chown 65532:65532 "$data"

# Port 0 everywhere: the server logs the addresses it got. EMBEDDED_SIMULATOR
# chooses the simulator explicitly, as a deployment must outside loopback.
start_ns="$(date +%s%N)"
container="$("${PODMAN_RUN[@]}" -d --no-healthcheck -v "$data:/data" \
	-e LISTEN_ADDR=127.0.0.1:0 -e SIMULATOR_ADDR=127.0.0.1:0 -e EMBEDDED_SIMULATOR=true \
	-e SIMULATOR_PENDING_DELAY=2s "$IMAGE")"

addr="" sim=""
for _ in $(seq 1 300); do
	logs="$(podman logs "$container" 2>&1)"
	addr="$(sed -n 's/.*"msg":"serving","addr":"\([^"]*\)".*/\1/p' <<<"$logs" | head -n1)"
	sim="$(sed -n 's/.*"simulator_url":"https:\/\/\([^"]*\)".*/\1/p' <<<"$logs" | head -n1)"
	[[ -n "$addr" && -n "$sim" ]] && break
	[[ "$(podman inspect "$container" --format '{{.State.Running}}')" == true ]] || fail "server exited before serving"
	sleep 0.1
done
[[ -n "$addr" ]] || fail "server did not log its address within 30s"

health=""
for _ in $(seq 1 100); do
	health="$(podman exec "$container" /usr/local/bin/grpc-health-probe -addr="$addr" \
		-service=paymentcompletion.v1.PaymentCompletionService 2>&1 || true)"
	grep -q 'SERVING' <<<"$health" && ! grep -q 'NOT_SERVING' <<<"$health" && break
	sleep 0.1
done
grep -q 'status: SERVING' <<<"$health" || fail "health never SERVING: $health"
ready_ms=$((($(date +%s%N) - start_ns) / 1000000))
echo "image: health SERVING at $addr (probe inside the image); start to SERVING ${ready_ms} ms"

sid="$(DATA_DIR="$data" SIMULATOR_ADDR="$sim" "$work/bin/democheckout" -amount 14.00 -scenario Authorized)"
status=0
out="$("$work/bin/client" -addr "$addr" complete -session "$sid" -order image-order-1 \
	-amount 14.00 -currency USD 2>&1)" || status=$?
echo "$out" | sed 's/^/image: client: /'
[[ "$status" -eq 0 ]] && grep -q 'COMPLETED' <<<"$out" || fail "completion not COMPLETED (exit $status)"
echo "image: completion COMPLETED on the embedded simulator"

podman stop -t 30 "$container" >/dev/null
code="$(podman inspect "$container" --format '{{.State.ExitCode}}')"
[[ "$code" -eq 0 ]] || fail "exit status $code after SIGTERM"
podman logs "$container" 2>&1 | grep -q '"msg":"stopped"' || fail "no 'stopped' line after SIGTERM"
echo "image: SIGTERM: exit 0"
podman rm "$container" >/dev/null
container=""

# The second entry point: the stand-alone simulator, for test environments.
url_dir="$work/sim"
mkdir -p "$url_dir"
chown 65532:65532 "$url_dir"
container="$("${PODMAN_RUN[@]}" -d --no-healthcheck -v "$url_dir:/sim" \
	--entrypoint /usr/local/bin/amazonpay-simulator "$IMAGE" \
	-addr 127.0.0.1:0 -state-dir /sim -url-file /sim/url)"
for _ in $(seq 1 100); do
	[[ -s "$url_dir/url" ]] && break
	sleep 0.1
done
[[ -s "$url_dir/url" ]] || fail "stand-alone simulator wrote no URL"
sim_url="$(cat "$url_dir/url")"
code="$(curl -sk -o /dev/null -w '%{http_code}' "$sim_url/v2/checkoutSessions/none" || true)"
[[ "$code" =~ ^4[0-9][0-9]$ ]] || fail "stand-alone simulator at $sim_url answered $code, want a 4xx for an unsigned request"
podman stop -t 10 "$container" >/dev/null
code="$(podman inspect "$container" --format '{{.State.ExitCode}}')"
[[ "$code" -eq 0 ]] || fail "stand-alone simulator exit status $code after SIGTERM"
echo "image: stand-alone simulator entry point served $sim_url and stopped with exit 0"
echo "image: all checks passed (size $((size_bytes / 1024 / 1024)) MiB, start to SERVING ${ready_ms} ms)"
