package e2e_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
)

// TestSecondServerOnSameDataDirRefused starts a server, then a second one
// on the same data directory with other ports: the second must exit at
// once, naming the directory and the first server's PID, and the first
// keeps serving.
func TestSecondServerOnSameDataDirRefused(t *testing.T) {
	t.Parallel()
	a := newAmazonSim(t, time.Second)
	env := a.serverEnv(t, sqliteURL(t))
	first := startProc(t, env)

	cmd := exec.Command(serverBinary(t))
	cmd.Env = append(os.Environ(), "LISTEN_ADDR="+freeAddr(t))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("second server still running after 60s on the same DATA_DIR:\n%s", out)
	}
	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Fatalf("second server exited with %d (%v), want 1:\n%s", code, err, out)
	}
	for _, want := range []string{"DATA_DIR", env["DATA_DIR"], "PID " + strconv.Itoa(first.cmd.Process.Pid)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("second server's output does not name %q:\n%s", want, out)
		}
	}
	// The first server is untouched.
	_, err = first.Client.GetPayment(t.Context(), &pb.GetPaymentRequest{Key: &pb.GetPaymentRequest_OrderId{OrderId: "no-such-order"}})
	if status.Code(err) != codes.NotFound {
		t.Errorf("first server after the refused start: %v, want NotFound", err)
	}
	first.stop(t, 10*time.Second)
}
