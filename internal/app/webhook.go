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
	"sync"
	"time"
)

// Webhook delivery: a tenant's new alerts are POSTed as JSON
// ({"alerts": [...]}) to its webhook, at least once: an alert is marked
// notified only after a 2xx answer, so a failed delivery is tried again at
// the next evaluation. Each POST has a timeout and is retried twice
// within a delivery, and a tenant's whole delivery has a deadline;
// redirects are not followed; the host is checked by the network guard
// when the webhook is set and again on the address dialled. Deliveries run
// in the background, one per tenant at a time and tenants concurrently,
// outside the evaluation's lock: a tenant's endpoint that never answers
// delays nobody else's alerts.
const (
	webhookTimeout  = 10 * time.Second
	webhookAttempts = 3
	webhookBatch    = 100
	webhookDeadline = time.Minute // one tenant's delivery, every batch and retry
)

// deliveries are the tenants' webhook deliveries in flight.
type deliveries struct {
	mu      sync.Mutex
	running map[string]bool // a delivery of the tenant runs
	again   map[string]bool // asked for while it ran: one more round after it
	wg      sync.WaitGroup  // the deliveries' goroutines
}

// SetWebhook sets (an empty url clears) the tenant's webhook.
func (a *App) SetWebhook(ctx context.Context, sc Scope, tenant, raw string) error {
	t, err := webhookTenant(sc, tenant)
	if err != nil {
		return err
	}
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return webhookProblem("url", fmt.Sprintf("%q: give an http(s) URL", raw))
		}
		if err := a.opt.Guard.CheckHost(ctx, u.Hostname()); err != nil {
			return webhookProblem("url", fmt.Sprintf("%s: %v", u.Host, err))
		}
	}
	if err := a.lake.SetWebhook(ctx, t, raw); err != nil {
		return err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, t, "webhook.set", t, raw)
	return nil
}

// SetWebhookStatusChanges says whether the tenant's webhook also receives
// its alerts' triage changes (each changed alert again, with change
// "updated"); off by default, as receivers built for new alerts only may
// not expect an alert twice.
func (a *App) SetWebhookStatusChanges(ctx context.Context, sc Scope, tenant string, on bool) error {
	t, err := webhookTenant(sc, tenant)
	if err != nil {
		return err
	}
	if err := a.lake.SetWebhookStatusChanges(ctx, t, on); err != nil {
		if errors.Is(err, ErrNotFound) {
			return webhookProblem("status_changes", "the tenant has no webhook: set its url first")
		}
		return err
	}
	_ = a.lake.LogAction(ctx, sc.Actor, t, "webhook.status_changes", t, fmt.Sprint(on))
	return nil
}

// WebhookStatusChanges reports whether the tenant's webhook receives
// triage changes.
func (a *App) WebhookStatusChanges(ctx context.Context, sc Scope, tenant string) (bool, error) {
	t, err := webhookTenant(sc, tenant)
	if err != nil {
		return false, err
	}
	return a.lake.WebhookStatusChanges(ctx, t)
}

// GetWebhook returns the tenant's webhook ("" for none).
func (a *App) GetWebhook(ctx context.Context, sc Scope, tenant string) (string, error) {
	t, err := webhookTenant(sc, tenant)
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

// webhookTenant is ruleTenant for a webhook: a webhook belongs to a tenant.
func webhookTenant(sc Scope, tenant string) (string, error) {
	if sc.Root && tenant == "" {
		return "", webhookProblem("tenant", "a webhook belongs to a tenant: name it")
	}
	return ruleTenant(sc, tenant)
}

// deliverAlerts starts, for every tenant with a webhook, a delivery of its
// unnotified alerts in the background, and returns at once.
func (a *App) deliverAlerts(ctx context.Context) {
	hooks, err := a.lake.Webhooks(ctx, "")
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("listing the webhooks failed; alerts are delivered at the next evaluation", "err", err)
		}
		return
	}
	for _, h := range hooks {
		a.startDelivery(h.Tenant)
	}
}

// startDelivery delivers a tenant's unnotified alerts in a goroutine of its
// own, unless one runs: that one then makes one more round, so alerts
// raised meanwhile are not left for the next evaluation, and no alert is
// posted by two deliveries at once.
func (a *App) startDelivery(tenant string) {
	d := &a.hooks
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.running[tenant] {
		if d.again == nil {
			d.again = map[string]bool{}
		}
		d.again[tenant] = true
		return
	}
	ctx, done, err := a.begin(context.Background())
	if err != nil {
		return // shutting down: the next start delivers them
	}
	if d.running == nil {
		d.running = map[string]bool{}
	}
	d.running[tenant] = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer done()
		for {
			dctx, cancel := context.WithTimeout(ctx, webhookDeadline)
			err := a.deliverTenant(dctx, tenant)
			cancel()
			if err != nil && ctx.Err() == nil {
				a.log.Warn("delivering alerts to a webhook failed; they are tried again at the next evaluation", "tenant", tenant, "err", err)
			}
			d.mu.Lock()
			again := d.again[tenant] && ctx.Err() == nil
			delete(d.again, tenant)
			if !again {
				delete(d.running, tenant)
				d.mu.Unlock()
				return
			}
			d.mu.Unlock()
		}
	}()
}

// WaitDeliveries waits for the webhook deliveries in flight (the CLI, before
// it closes the directory it evaluated in; each has a deadline).
func (a *App) WaitDeliveries() { a.hooks.wg.Wait() }

// deliverTenant posts a tenant's unnotified alerts to its webhook (read
// again here: a URL changed meanwhile takes them), batch by batch.
func (a *App) deliverTenant(ctx context.Context, tenant string) error {
	hooks, err := a.lake.Webhooks(ctx, tenant)
	if err != nil || len(hooks) == 0 {
		return err
	}
	url := hooks[0].URL
	client := a.webhookClient()
	defer client.CloseIdleConnections()
	for {
		as, err := a.lake.Unnotified(ctx, tenant, webhookBatch)
		if err != nil || len(as) == 0 {
			return err
		}
		out := make([]Alert, len(as))
		ids := make([]string, len(as))
		for i, x := range as {
			out[i] = publicAlert(x)
			out[i].Change = "raised"
			if !x.UpdatedAt.IsZero() {
				out[i].Change = "updated"
			}
			ids[i] = x.ID
		}
		if err := a.post(ctx, client, url, out); err != nil {
			return fmt.Errorf("webhook of tenant %s: %w", tenant, err)
		}
		if err := a.lake.MarkNotified(ctx, ids); err != nil {
			return err
		}
	}
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
