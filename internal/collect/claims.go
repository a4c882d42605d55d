package collect

import "sync"

// Claims are the objects of one connector that runs in this process are
// collecting: the polling run and the queue's receivers may meet the same
// object at once, and runs in one process share their partition leases
// (one holder), so fencing alone cannot keep them from collecting it
// twice. A run takes an object's claim before reading it; a run that
// finds it taken leaves the object to the other. A claim is given back
// once the object's last commit is done (or at the run's end), and an
// object given back after a run began is looked up again before that run
// reads it: its checkpoint may have moved since the run loaded it.
type Claims struct {
	mu       sync.Mutex
	seq      uint64
	held     map[string]uint64 // key -> the run holding it
	released map[string]uint64 // key -> when it was given back
	active   map[uint64]bool
}

// NewClaims returns the claims of one connector in this process.
func NewClaims() *Claims {
	return &Claims{held: map[string]uint64{}, released: map[string]uint64{}, active: map[uint64]bool{}}
}

// begin starts a run's claims.
func (c *Claims) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	c.active[c.seq] = true
	return c.seq
}

// take claims key for run. stale says another run gave it back after run
// began: the run's loaded checkpoint of it may be old.
func (c *Claims) take(run uint64, key string) (ok, stale bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, taken := c.held[key]; taken {
		return h == run, false
	}
	c.held[key] = run
	return true, c.released[key] > run
}

// release gives back run's claim of key.
func (c *Claims) release(run uint64, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[key] != run {
		return
	}
	delete(c.held, key)
	c.seq++
	c.released[key] = c.seq
}

// end gives back every claim run still holds, and forgets releases no
// active run can be stale about.
func (c *Claims) end(run uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, h := range c.held {
		if h == run {
			delete(c.held, k)
			c.seq++
			c.released[k] = c.seq
		}
	}
	delete(c.active, run)
	oldest := c.seq + 1
	for r := range c.active {
		oldest = min(oldest, r)
	}
	for k, s := range c.released {
		if s < oldest {
			delete(c.released, k)
		}
	}
}
