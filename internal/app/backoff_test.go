package app

import (
	"testing"
	"time"
)

// TestBackoff: the retry delay doubles with each failure in a row from
// the retry delay (at most the interval), stops at the cap, and is never
// more than 10% short of its step.
func TestBackoff(t *testing.T) {
	cases := []struct {
		interval, retry, maxBackoff time.Duration
		want                        []time.Duration // by consecutive failures, from 1
	}{
		{10 * time.Second, time.Minute, 0, []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}},
		{5 * time.Minute, time.Minute, 0, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}},
		{2 * time.Hour, time.Minute, 0, []time.Duration{time.Minute, 2 * time.Minute}},
		{10 * time.Second, time.Minute, 25 * time.Second, []time.Duration{10 * time.Second, 20 * time.Second, 25 * time.Second, 25 * time.Second}},
	}
	for _, c := range cases {
		s := &scheduler{opt: SchedulerOptions{RetryFailed: c.retry, MaxBackoff: c.maxBackoff}}
		for i, want := range c.want {
			sl := &slot{interval: c.interval, failures: i + 1}
			for range 20 {
				if got := s.backoff(sl); got > want || got < want-want/10 {
					t.Errorf("interval %s, %d failures: %s, want %s less at most 10%%", c.interval, i+1, got, want)
				}
			}
		}
	}
	// 60 failures in a row do not overflow: the cap holds.
	s := &scheduler{opt: SchedulerOptions{RetryFailed: time.Minute}}
	if got := s.backoff(&slot{interval: 5 * time.Minute, failures: 60}); got > 30*time.Minute || got < 27*time.Minute {
		t.Errorf("60 failures: %s, want 30 minutes", got)
	}
}
