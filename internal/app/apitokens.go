package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/trawlhq/trawl/internal/apiv1"
	"github.com/trawlhq/trawl/internal/catalog"
	"github.com/trawlhq/trawl/internal/connector"
)

// ErrForbidden is an operation that needs root scope.
var ErrForbidden = errors.New("this needs a root token")

// HashToken is how tokens are stored and looked up.
func HashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

// CreateToken issues a token for a tenant (or root when tenant is empty)
// and returns its secret, which is never shown again.
func (a *App) CreateToken(ctx context.Context, sc Scope, tenant, name string) (string, *apiv1.Token, error) {
	if !sc.Root {
		return "", nil, ErrForbidden
	}
	if tenant != "" {
		if err := a.CreateTenant(ctx, sc, tenant); err != nil {
			return "", nil, err
		}
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	prefix := "trawl_root_"
	if tenant != "" {
		prefix = "trawl_t_"
	}
	secret := prefix + hex.EncodeToString(raw[:])
	t := apiv1.Token{ID: newID(), Tenant: tenant, Name: name, CreatedAt: time.Now().UTC()}
	if err := a.lake.InsertToken(ctx, catalog.Token(t), HashToken(secret)); err != nil {
		return "", nil, err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, tenant, "token.create", t.ID, name)
	return secret, &t, nil
}

// ScopeForToken resolves a stored token.
func (a *App) ScopeForToken(ctx context.Context, tok string) (Scope, bool) {
	t, err := a.lake.TokenByHash(ctx, HashToken(tok))
	if err != nil {
		return Scope{}, false
	}
	actor := "token:" + t.ID
	if t.Name != "" {
		actor += "(" + t.Name + ")"
	}
	if t.Tenant == "" {
		return Scope{Root: true, Actor: actor}, true
	}
	return Scope{Tenant: t.Tenant, Actor: actor}, true
}

// Tokens lists tokens (root only).
func (a *App) Tokens(ctx context.Context, sc Scope) ([]apiv1.Token, error) {
	if !sc.Root {
		return nil, ErrForbidden
	}
	ts, err := a.lake.Tokens(ctx)
	return wireTokens(ts), err
}

// DeleteToken revokes a token (root only).
func (a *App) DeleteToken(ctx context.Context, sc Scope, id string) error {
	if !sc.Root {
		return ErrForbidden
	}
	if err := a.lake.DeleteToken(ctx, id); err != nil {
		return err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, "", "token.delete", id, "")
	return nil
}

// CreateTenant records a tenant (root only).
func (a *App) CreateTenant(ctx context.Context, sc Scope, name string) error {
	if !sc.Root {
		return ErrForbidden
	}
	c := connector.Connector{Name: "x", Tenant: name}
	if err := c.Validate(); err != nil {
		var ve *connector.ValidationError
		if errors.As(err, &ve) {
			for _, p := range ve.Problems {
				if p.Field == "tenant" {
					return &connector.ValidationError{Problems: []connector.Problem{p}}
				}
			}
		}
	}
	if err := a.lake.EnsureTenant(ctx, name); err != nil {
		return err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, name, "tenant.create", name, "")
	return nil
}

// ActorLog returns the actor log (who did what; GET /api/v1/audit) within
// the scope. The digest audit is AuditDigests.
func (a *App) ActorLog(ctx context.Context, sc Scope, limit int) ([]apiv1.ActorEntry, error) {
	if limit <= 0 || limit > 10000 {
		limit = 200
	}
	t := ""
	if !sc.Root {
		t = sc.Tenant
	}
	es, err := a.lake.ActorLog(ctx, t, limit)
	return wireActorLog(es), err
}
