package app

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultQueryTimeout bounds every search, count, histogram and top-N.
const DefaultQueryTimeout = 30 * time.Second

// DefaultTenantQueries is how many queries one tenant (or root) may run at
// once; more wait briefly, then are refused with 429.
const DefaultTenantQueries = 4

// QueryTimeoutError is a query stopped at its deadline.
type QueryTimeoutError struct{ Limit time.Duration }

func (e *QueryTimeoutError) Error() string {
	return fmt.Sprintf("the query did not finish within %s and was stopped: narrow the time range, add a field (event_name:X, srcip:10.0.0.0/8) or avoid leading wildcards", e.Limit)
}

// TooManyError is a query refused because its tenant already runs its
// share.
type TooManyError struct {
	Limit      int
	RetryAfter time.Duration
}

func (e *TooManyError) Error() string {
	if e.Limit == 1 {
		return "a query of this tenant is already running: wait for it to finish and try again"
	}
	return fmt.Sprintf("%d queries of this tenant are already running: wait for one to finish and try again", e.Limit)
}

func (a *App) queryTimeout() time.Duration {
	if a.opt.QueryTimeout > 0 {
		return a.opt.QueryTimeout
	}
	return DefaultQueryTimeout
}

// key is the scope a query share is counted against.
func (s Scope) key() string {
	if s.Root {
		return "\x00root"
	}
	return s.Tenant
}

// tenantSlots bounds concurrent queries per tenant, so one tenant's heavy
// hunting cannot take every core from the others (or from collection).
type tenantSlots struct {
	mu    sync.Mutex
	limit int
	slots map[string]chan struct{}
}

// acquire takes one of the tenant's slots, waiting up to two seconds.
func (t *tenantSlots) acquire(ctx context.Context, tenant string) (func(), error) {
	t.mu.Lock()
	if t.slots == nil {
		t.slots = map[string]chan struct{}{}
	}
	if t.limit <= 0 {
		t.limit = DefaultTenantQueries
	}
	ch, ok := t.slots[tenant]
	if !ok {
		ch = make(chan struct{}, t.limit)
		t.slots[tenant] = ch
	}
	t.mu.Unlock()
	wait := time.NewTimer(2 * time.Second)
	defer wait.Stop()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-wait.C:
		return nil, &TooManyError{Limit: cap(ch), RetryAfter: time.Second}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
