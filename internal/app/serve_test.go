package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestServeOwnsTheLifecycle: Serve answers on its listener, says when it
// started and when it stops, and returns only once its jobs are joined;
// Close then finds nothing in flight, and work registered after the
// shutdown is refused rather than run against a closing lake.
func TestServeOwnsTheLifecycle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := Open(ctx, Options{DataDir: t.TempDir(), MasterKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	served := make(chan error, 1)
	go func() {
		served <- a.Serve(ctx, ln, h, ServeOptions{MaintainEvery: 10 * time.Millisecond,
			Started: func() { events = append(events, "started"); close(started) }, Stopping: func() { events = append(events, "stopping") }})
	}()
	<-started
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(50 * time.Millisecond) // a few maintenance passes
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return within 20 s of its context ending")
	}
	if len(events) != 2 || events[0] != "started" || events[1] != "stopping" {
		t.Errorf("hooks ran as %v, want started then stopping", events)
	}
	if _, _, err := a.begin(context.Background()); err == nil {
		t.Error("work was accepted after the shutdown began")
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close after Serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("the API still answers after Serve returned")
	}
}
