package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/trawlhq/trawl/internal/connector"
)

// Webhook delivery: a tenant's new alerts are POSTed as JSON
// ({"alerts": [...]}) to its webhook, at least once: an alert is marked
// notified only after a 2xx answer, so a failed delivery is tried again at
// the next evaluation. Each POST has a timeout and is retried twice
// within a delivery; redirects are not followed; the host is checked by
// the network guard when the webhook is set and again on the address
// dialled.
const (
	webhookTimeout  = 10 * time.Second
	webhookAttempts = 3
	webhookBatch    = 100
)

// SetWebhook sets (an empty url clears) the tenant's webhook.
func (a *App) SetWebhook(ctx context.Context, sc Scope, tenant, raw string) error {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return err
	}
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return &connector.ValidationError{Problems: []connector.Problem{{Field: "url", Message: fmt.Sprintf("%q: give an http(s) URL", raw)}}}
		}
		if err := a.opt.Guard.CheckHost(ctx, u.Hostname()); err != nil {
			return &connector.ValidationError{Problems: []connector.Problem{{Field: "url", Message: fmt.Sprintf("%s: %v", u.Host, err)}}}
		}
	}
	if err := a.lake.SetWebhook(ctx, t, raw); err != nil {
		return err
	}
	_ = a.lake.Audit(ctx, sc.Actor, t, "webhook.set", t, raw)
	return nil
}

// GetWebhook returns the tenant's webhook ("" for none).
func (a *App) GetWebhook(ctx context.Context, sc Scope, tenant string) (string, error) {
	t, err := ruleTenant(sc, tenant)
	if err != nil {
		return "", err
	}
	ws, err := a.lake.Webhooks(ctx, t)
	if err != nil || len(ws) == 0 {
		return "", err
	}
	return ws[0].URL, nil
}

// webhookClient dials through the network guard and follows no redirect.
func (a *App) webhookClient() *http.Client {
	d := a.opt.Guard.Dialer(&net.Dialer{Timeout: 5 * time.Second})
	return &http.Client{
		Timeout:       webhookTimeout,
		Transport:     &http.Transport{DialContext: d.DialContext, Proxy: nil, TLSHandshakeTimeout: 5 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// deliverAlerts posts every tenant's unnotified alerts to its webhook.
func (a *App) deliverAlerts(ctx context.Context) error {
	hooks, err := a.lake.Webhooks(ctx, "")
	if err != nil {
		return err
	}
	client := a.webhookClient()
	var errs []error
	for _, h := range hooks {
		for {
			as, err := a.lake.Unnotified(ctx, h.Tenant, webhookBatch)
			if err != nil || len(as) == 0 {
				if err != nil {
					errs = append(errs, err)
				}
				break
			}
			out := make([]Alert, len(as))
			ids := make([]string, len(as))
			for i, x := range as {
				out[i] = publicAlert(x)
				ids[i] = x.ID
			}
			if err := a.post(ctx, client, h.URL, out); err != nil {
				errs = append(errs, fmt.Errorf("webhook of tenant %s: %w", h.Tenant, err))
				break
			}
			if err := a.lake.MarkNotified(ctx, ids); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (a *App) post(ctx context.Context, client *http.Client, to string, alerts []Alert) error {
	body, err := json.Marshal(map[string]any{"alerts": alerts})
	if err != nil {
		return err
	}
	var last error
	for attempt := 0; attempt < webhookAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			}
		}
		req, err := http.NewRequestWithContext(ctx, "POST", to, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "trawl-alerts")
		resp, err := client.Do(req)
		if err != nil {
			last = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return nil
		}
		last = fmt.Errorf("answered %s", resp.Status)
	}
	return fmt.Errorf("%d attempts: %w", webhookAttempts, last)
}
