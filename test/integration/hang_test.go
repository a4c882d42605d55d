package integration

import (
	"net"
	"testing"
)

// hangingEndpoint listens on loopback, accepts connections and never
// answers: an endpoint that hangs. It closes when the test ends.
func hangingEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // hold it open, never answer
		}
	}()
	return "http://" + ln.Addr().String()
}
