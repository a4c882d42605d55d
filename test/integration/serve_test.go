package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// launchServe starts `trawl serve` on addr and returns once it says it
// is serving (it is killed if it does not within 30 s).
func launchServe(t *testing.T, addr, data string, extra ...string) *exec.Cmd {
	t.Helper()
	return launchUntilServing(t, data, 30*time.Second, append([]string{"serve", "--addr", addr}, extra...)...)
}

// launchUntilServing starts trawl with args (serve or demo) and returns once
// it says it is serving; it is killed if it does not within wait.
func launchUntilServing(t *testing.T, data string, wait time.Duration, args ...string) *exec.Cmd {
	t.Helper()
	return launchLogged(t, data, wait, os.Stderr, args...)
}

// launchLogged is launchUntilServing with trawl's log (stderr) written to
// logs; a log that is a fmt.Stringer is shown when it does not start.
func launchLogged(t *testing.T, data string, wait time.Duration, logs io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(trawlBin, args...)
	cmd.Env = append(os.Environ(), dataEnv(t, data)...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "serving on") {
				once = true
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(wait):
		cmd.Process.Kill()
		log := ""
		if s, ok := logs.(fmt.Stringer); ok {
			log = "; its log:\n" + s.String()
		}
		t.Fatalf("trawl %s did not start serving%s", args[0], log)
	}
	return cmd
}

// startServe runs `trawl serve` until stop is called (SIGTERM, then wait).
func startServe(t *testing.T, data string, extra ...string) (stop func()) {
	t.Helper()
	cmd := launchServe(t, freeAddr(t), data, extra...)
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Error("trawl serve did not stop on SIGTERM")
		}
	}
}
