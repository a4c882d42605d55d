package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/trawlhq/trawl/internal/connector"
)

// TestConnectorNameUniqueUnderConcurrency: eight concurrent inserts of
// the same name in one tenant: exactly one wins, the others get
// ErrConflict; edits of the winner still work under the constraint.
func TestConnectorNameUniqueUnderConcurrency(t *testing.T) {
	l := openTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &connector.Connector{ID: fmt.Sprintf("id%d", i), Tenant: "acme", Name: "same", Version: 1}
			errs[i] = l.InsertConnector(ctx, c, "")
		}()
	}
	wg.Wait()
	ok := 0
	var winner string
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			winner = fmt.Sprintf("id%d", i)
		case !errors.Is(err, ErrConflict):
			t.Errorf("insert %d: %v, want ErrConflict", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d inserts of the same name succeeded, want 1", ok)
	}
	list, _ := l.Connectors(ctx, "acme")
	if len(list) != 1 {
		t.Fatalf("%d connectors stored", len(list))
	}
	for v := int64(1); v <= 3; v++ {
		c := &connector.Connector{ID: winner, Tenant: "acme", Name: "same", Version: v + 1, Prefix: fmt.Sprint(v)}
		if err := l.UpdateConnector(ctx, c, "", v); err != nil {
			t.Fatalf("edit %d under the constraint: %v", v, err)
		}
	}
	// Another tenant may use the name.
	if err := l.InsertConnector(ctx, &connector.Connector{ID: "other", Tenant: "beta", Name: "same", Version: 1}, ""); err != nil {
		t.Errorf("same name in another tenant: %v", err)
	}
}
