// Browser tests of the Trawl console, driven by test/ui/ui_test.go, which
// starts versitygw and `trawl serve` and passes their addresses in the
// environment.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";

const env = process.env;
const shot = (page, name) => page.screenshot({ path: `${env.ARTIFACTS}/${name}.png`, fullPage: true });

async function launch() {
  return chromium.launch({
    executablePath: env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

// settled waits for the hunt's search (rows, count and histogram) to end.
const settled = (page) => page.waitForSelector('#hunt-view .results[aria-busy="false"]');

// huntShows waits for the hunt of query q to have ended with n matching
// records. The count alone is not enough: the hunt before may have had n
// too, and its rows would still be on the page.
const huntShows = (page, q, n) => page.waitForFunction(([q, n]) =>
  document.querySelector("#query").value === q &&
  document.querySelector('#hunt-view .results').getAttribute("aria-busy") === "false" &&
  document.querySelector("#result-count").textContent.startsWith(`${n} matching`), [q, n]);

// parseCSV reads RFC 4180 (quoted fields may hold commas, quotes and
// line breaks).
function parseCSV(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { row.push(field); field = ""; } else if (c === "\r" && text[i + 1] === "\n") { row.push(field); rows.push(row); row = []; field = ""; i++; } else field += c;
  }
  if (field !== "" || row.length) { row.push(field); rows.push(row); }
  return rows;
}

async function signIn(page, token) {
  await page.goto(env.TRAWL_URL + "/");
  await page.getByLabel("API token", { exact: true }).fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#connectors-view:not([hidden])");
}

test("connectors, wizard, Test, hunting, tenant scope", { timeout: 240000 }, async () => {
  const browser = await launch();
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });

    // Sign-in, then the empty connectors page.
    await signIn(page, env.TRAWL_TOKEN);
    await page.waitForTimeout(300);
    assert.equal(await page.locator("#connectors tbody tr").count(), 0, "no connectors yet");
    await shot(page, "01-connectors-empty");

    // Wizard step 1: General, with the fixed fields shown read-only.
    await page.getByRole("button", { name: "New connector" }).click();
    const wiz = page.locator("#wizard");
    await wiz.waitFor();
    assert.equal(await wiz.getByLabel("Category", { exact: true }).inputValue(), "PaaS");
    assert.equal(await wiz.getByLabel("Type", { exact: true }).inputValue(), "AWS CloudTrail");
    assert.equal(await wiz.getByLabel("Function", { exact: true }).inputValue(), "Collect");
    await wiz.getByLabel("Name", { exact: true }).fill("console-trail");
    await wiz.getByLabel("Tenant", { exact: true }).fill("acme");
    await wiz.getByRole("button", { name: "Next" }).click();

    // Step 2: text file type with cloudtrail, and a trailing "/", are refused.
    await wiz.getByLabel("Sub type", { exact: true }).selectOption("cloudtrail");
    await wiz.getByLabel("File type", { exact: true }).selectOption("text");
    await wiz.getByLabel("Bucket", { exact: true }).fill(env.BUCKET);
    await wiz.getByLabel("Prefix", { exact: true }).fill(env.PREFIX + "/");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForFunction(() => document.querySelector("#prefix-error").textContent.includes("trailing"));
    const ftErr = await wiz.locator('[data-error="file_type"]').textContent();
    assert.match(ftErr, /gzip/);
    assert.match(await wiz.locator("#prefix-error").textContent(), /trailing '\/'/);
    await shot(page, "02-wizard-validation");
    assert.equal(await wiz.locator('fieldset[data-step="2"]').isVisible(), true, "stays on step 2 while invalid");

    await wiz.getByLabel("File type", { exact: true }).selectOption("gzip");
    await wiz.getByLabel("Prefix", { exact: true }).fill(env.PREFIX);
    // A new connector starts on the role flow, with the tenant's own
    // external ID offered; this one uses access keys.
    assert.equal(await wiz.getByLabel("Credentials", { exact: true }).inputValue(), "role");
    await page.waitForFunction(() => /^trawl-/.test(document.querySelector("#f-extid").placeholder));
    await wiz.getByLabel("Credentials", { exact: true }).selectOption("keys");
    assert.equal(await wiz.getByLabel("Role ARN", { exact: true }).isVisible(), false, "role fields hidden for keys");
    await wiz.getByLabel("Access key ID", { exact: true }).fill(env.S3_KEY);
    await wiz.getByLabel("Secret access key", { exact: true }).fill("this-is-the-wrong-secret-key-000");
    await wiz.getByLabel(/S3 endpoint/).fill(env.S3_ENDPOINT);
    await wiz.getByLabel("Path-style addressing", { exact: true }).check();
    await page.waitForFunction(() => document.querySelector("#prefix-error").textContent === "");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="3"]:not([hidden])', { timeout: 10000 }).catch(async (e) => {
      await shot(page, "xx-wizard-stuck");
      throw new Error("wizard did not reach the IAM policy: " + (await wiz.locator("#wizard-error").textContent()) + " " +
        (await wiz.locator("[data-error]").allTextContents()).join(" | "));
    });

    // Step 3: the IAM policy this connector needs, as valid JSON.
    await page.waitForFunction(() => document.querySelector("#policy-json").textContent.startsWith("{"));
    const policy = JSON.parse(await wiz.locator("#policy-json").textContent());
    const stmts = policy.permissions_policy.Statement;
    assert.deepEqual(stmts.map((s) => s.Action), ["s3:ListBucket", "s3:GetObject", "kms:Decrypt", "cloudtrail:ListPublicKeys"]);
    assert.equal(stmts[0].Resource, "arn:aws:s3:::" + env.BUCKET);
    assert.ok(stmts[0].Condition.StringLike["s3:prefix"].some((p) => p.startsWith(env.PREFIX)), "list limited to the prefix");
    assert.equal(policy.trust_policy, undefined, "no trust policy for keys");
    await shot(page, "03a-wizard-policy");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="4"]:not([hidden])', { timeout: 10000 });

    // Step 3: the summary masks the secret.
    const confirm = await wiz.locator("#confirm").textContent();
    assert.match(confirm, /\*{8}/);
    assert.doesNotMatch(confirm, /wrong-secret/);
    await shot(page, "03-wizard-confirm");
    await wiz.getByRole("button", { name: "Submit" }).click();
    await page.waitForSelector('#connectors tr[data-name="console-trail"]');

    // Test with the wrong secret: a failure explained, with what S3 answered (403).
    const row = page.locator('#connectors tr[data-name="console-trail"]');
    await row.getByRole("button", { name: "Test console-trail" }).click();
    const dlg = page.locator("#test-dialog");
    await page.waitForFunction(() => /Success|Failure/.test(document.querySelector("#test-outcome").textContent));
    assert.equal(await dlg.locator("#test-outcome").textContent(), "Failure");
    await dlg.getByRole("button", { name: "Show more" }).click();
    const detail = await dlg.locator("#test-detail").textContent();
    assert.match(detail, /403 SignatureDoesNotMatch/);
    assert.match(detail, /secret access key does not match/);
    assert.match(detail, /Re-enter the secret access key/);
    await shot(page, "04-test-failure");
    await dlg.getByRole("button", { name: "Close" }).click();

    // Fix the secret through Edit: General fields are read-only there.
    await row.getByRole("button", { name: "Edit console-trail" }).click();
    await page.waitForFunction(() => document.querySelector("#wizard").open);
    assert.equal(await wiz.getByLabel("Name", { exact: true }).getAttribute("readonly"), "");
    await wiz.getByRole("button", { name: "Next" }).click();
    assert.equal(await wiz.getByLabel("Secret access key", { exact: true }).getAttribute("placeholder"), "unchanged (stored)");
    await wiz.getByLabel("Secret access key", { exact: true }).fill(env.S3_SECRET);
    await wiz.getByRole("button", { name: "Next" }).click();
    await wiz.getByRole("button", { name: "Next" }).click();
    await wiz.getByRole("button", { name: "Submit" }).click();
    await page.waitForFunction(() => !document.querySelector("#wizard").open);
    await row.getByRole("button", { name: "Test console-trail" }).click();
    await page.waitForFunction(() => /Success|Failure/.test(document.querySelector("#test-outcome").textContent));
    assert.equal(await dlg.locator("#test-outcome").textContent(), "Success");
    await dlg.getByRole("button", { name: "Show more" }).click();
    assert.match(await dlg.locator("#test-detail").textContent(), /Sample record/);
    // What discovery found is shown, so a region left out is never silent.
    assert.match(await dlg.locator("#test-detail .found").textContent(), /What the connector collects.*Regions/s);
    await shot(page, "05-test-success");
    await dlg.getByRole("button", { name: "Close" }).click();

    // Concurrent edits: the wizard saves against the version it loaded, so
    // a change made meanwhile by someone else is reported, not overwritten.
    await row.getByRole("button", { name: "Edit console-trail" }).click();
    await page.waitForFunction(() => document.querySelector("#wizard").open);
    const api = async (method, path, body, headers = {}) => {
      const r = await fetch(env.TRAWL_URL + path, { method, headers: { Authorization: "Bearer " + env.TRAWL_TOKEN, "Content-Type": "application/json", ...headers }, body: body && JSON.stringify(body) });
      return { status: r.status, etag: r.headers.get("ETag"), data: await r.json().catch(() => null) };
    };
    const list = await api("GET", "/api/v1/connectors");
    const mine = list.data.connectors.find((c) => c.name === "console-trail");
    const cur = await api("GET", `/api/v1/connectors/${mine.id}`);
    const other = await api("PUT", `/api/v1/connectors/${mine.id}`, { ...cur.data, lookback: "2h" }, { "If-Match": cur.etag });
    assert.equal(other.status, 200, "someone else's edit");
    await wiz.getByRole("button", { name: "Next" }).click();
    await wiz.getByLabel("Bucket region", { exact: true }).selectOption("us-east-1");
    await wiz.getByRole("button", { name: "Next" }).click();
    await wiz.getByRole("button", { name: "Next" }).click();
    await wiz.getByRole("button", { name: "Submit" }).click();
    await page.waitForFunction(() => /changed by someone else/.test(document.querySelector("#wizard-error").textContent));
    await shot(page, "05b-edit-conflict");
    assert.equal(await page.evaluate(() => document.querySelector("#wizard").open), true, "the dialog stays open");
    const after = await api("GET", `/api/v1/connectors/${mine.id}`);
    assert.equal(after.data.lookback, "2h0m0s", "the other edit was kept");
    assert.equal(after.data.region || "", "", "the stale edit was not saved");
    await wiz.getByRole("button", { name: "Cancel" }).click();

    // Wait for collection (an edited connector runs at once), then hunt.
    for (let i = 0; i < 60; i++) {
      await page.reload();
      await page.waitForSelector('#connectors tr[data-name="console-trail"]');
      const recs = await page.locator('#connectors tr[data-name="console-trail"] td').nth(7).textContent();
      if (Number(recs) >= 200) break;
      await page.waitForTimeout(1000);
    }
    assert.equal(await page.locator('#connectors tr[data-name="console-trail"] td').nth(7).textContent(), "200");
    assert.match(await page.locator('#connectors tr[data-name="console-trail"] td').nth(5).textContent(), /ok/);
    assert.equal(await page.locator("#connectors tbody tr").count(), 1, "each connector is listed once");
    await shot(page, "06-connectors");

    // At 1440 px wide the whole connectors table fits: every action of a
    // row is on screen, the table does not scroll sideways.
    await page.setViewportSize({ width: 1440, height: 900 });
    const wrapBox = await page.locator("#connectors-view .table-wrap").boundingBox();
    for (const action of ["Test", "Edit", "Disable", "Quarantine of", "Delete"]) {
      const box = await page.getByRole("button", { name: `${action} console-trail`, exact: true }).boundingBox();
      assert.ok(box && box.x >= wrapBox.x && box.x + box.width <= wrapBox.x + wrapBox.width && box.x + box.width <= 1440,
        `at 1440 px the ${action} button (${JSON.stringify(box)}) lies outside the table's box (${JSON.stringify(wrapBox)})`);
    }
    const [scrollW, clientW] = await page.locator("#connectors-view .table-wrap").evaluate((w) => [w.scrollWidth, w.clientWidth]);
    assert.ok(scrollW <= clientW, `at 1440 px the connectors table scrolls sideways (${scrollW} > ${clientW} px)`);
    await shot(page, "06-connectors-1440");
    await page.setViewportSize({ width: 1280, height: 800 });

    // Integrity: the trail's hours checked against its signed digests (the
    // audit runs after each collection).
    const integrity = () => page.locator('#connectors tr[data-name="console-trail"] td').nth(9);
    for (let i = 0; i < 30 && !/h verified$/.test(await integrity().textContent()); i++) {
      await page.waitForTimeout(500);
      await page.reload();
      await page.waitForSelector('#connectors tr[data-name="console-trail"]');
    }
    assert.match(await integrity().textContent(), /^\d+ h verified$/);
    await integrity().getByRole("link").click();
    await page.waitForSelector("#audit-view:not([hidden])");
    await page.waitForFunction(() => document.querySelectorAll("#audit tbody tr[data-status]").length > 0);
    const statuses = await page.locator("#audit tbody tr").evaluateAll((rs) => rs.map((r) => r.dataset.status));
    assert.ok(statuses.length >= 4 && statuses.every((s) => s === "verified"), `audit statuses: ${statuses}`);
    assert.match(await page.locator("#audit-summary").textContent(), new RegExp(`^${statuses.length} hours?: ${statuses.length} verified`));
    await shot(page, "06b-integrity");
    await page.getByRole("link", { name: "Back to connectors" }).click();
    await page.waitForSelector("#connectors-view:not([hidden])");

    // Overview: per-connector hours and top values, each equal to the
    // search behind it, and a value opens that hunt.
    await page.getByRole("link", { name: "Overview", exact: true }).click();
    await page.waitForSelector("#overview-view:not([hidden])");
    await page.waitForSelector('#ov-connectors figure[data-connector="console-trail"]');
    const ovTotal = Number(await page.locator('#ov-connectors figure[data-connector="console-trail"] .ov-total').getAttribute("data-total"));
    assert.equal(ovTotal, (await api("GET", "/api/v1/count?from=-24h&q=connector:console-trail")).data.count, "records of the connector in 24 h");
    const topLink = page.locator('#ov-tops figure[data-chart="event_name"] a[data-value]').first();
    const topValue = await topLink.getAttribute("data-value");
    const topN = Number(await topLink.getAttribute("data-count"));
    assert.equal(topN, (await api("GET", `/api/v1/count?from=-24h&index=aws_events&q=${encodeURIComponent(`msg_class:cloudtrail AND event_name:${topValue}`)}`)).data.count);
    await shot(page, "06c-overview");

    // Retention: the default and the settings, set from the form as the
    // API stores them; a bad value is refused with the API's reason.
    await page.waitForSelector('#ret-table tbody tr[data-tenant=""]');
    assert.equal(await page.locator('#ret-table tbody tr[data-tenant=""] td').nth(2).textContent(), (await api("GET", "/api/v1/retention")).data.default.retention);
    const retTenant = await page.locator("#ret-tenant option").nth(1).getAttribute("value");
    assert.ok(retTenant, "the form lists the tenants");
    await page.locator("#ret-tenant").selectOption(retTenant);
    await page.locator("#ret-index").selectOption("aws_events");
    await page.getByLabel("Keep", { exact: true }).fill("30d");
    await page.getByRole("button", { name: "Set retention" }).click();
    await page.waitForSelector(`#ret-table tbody tr[data-tenant="${retTenant}"][data-index="aws_events"]`);
    assert.equal(await page.locator(`#ret-table tbody tr[data-tenant="${retTenant}"][data-index="aws_events"] td`).nth(2).textContent(), "30d");
    assert.ok((await api("GET", "/api/v1/retention")).data.settings.some((r) => r.tenant === retTenant && r.index === "aws_events" && r.days === 30), "stored as set");
    await page.getByLabel("Keep", { exact: true }).fill("thirty days");
    await page.getByRole("button", { name: "Set retention" }).click();
    await page.waitForFunction(() => document.querySelector("#ret-status").textContent.length > 0 && document.querySelector("#ret-status").textContent !== "Saved.");
    assert.match(await page.locator("#ret-status").textContent(), /retention/i);
    await shot(page, "06c2-retention");
    await page.getByLabel("Keep", { exact: true }).fill("inherit");
    await page.getByRole("button", { name: "Set retention" }).click();
    await page.waitForFunction((t) => !document.querySelector(`#ret-table tbody tr[data-tenant="${t}"][data-index="aws_events"]`), retTenant);
    await topLink.click();
    await page.waitForSelector("#hunt-view:not([hidden])");
    await page.waitForFunction((n) => document.querySelector("#result-count").textContent.startsWith(`${n} matching`), topN);

    // Alerts: the planted attacks stop CloudTrail logging; its alert opens
    // the hunt that finds the alert's records.
    assert.equal((await api("POST", "/api/v1/alerts/evaluate")).status, 200, "evaluate the rules");
    const stopAlerts = (await api("GET", "/api/v1/alerts?since=-7d&rule_id=trawl-ct-003")).data.alerts;
    assert.ok(stopAlerts.length > 0, "the planted StopLogging raised alerts");
    await page.getByRole("link", { name: "Alerts", exact: true }).click();
    await page.waitForSelector("#alerts-view:not([hidden])");
    await page.waitForSelector('#alerts tbody tr[data-rule="trawl-ct-003"]');
    // A rule of acme's that fails when evaluated is shown with why; the
    // other rules raised their alerts all the same.
    await page.waitForSelector('#al-failed:not([hidden]) li[data-rule="acme-engine"]');
    assert.match(await page.locator('#al-failed li[data-rule="acme-engine"]').textContent(), /acme-engine \(acme, since .*\): its query fails: the search engine refuses/);
    await page.locator("#al-level").selectOption("critical");
    await page.waitForFunction(() => [...document.querySelectorAll("#alerts tbody tr")].length > 0 &&
      [...document.querySelectorAll("#alerts tbody tr")].every((r) => r.querySelector(".level-critical")));
    await shot(page, "06d-alerts");
    const first = stopAlerts[0];

    // Triage in the console: expand the StopLogging group, acknowledge
    // and assign its newest alert, close it as a false positive with a
    // note, then reopen it; the API and the actor log agree.
    const alertNow = async () => (await api("GET", "/api/v1/alerts?since=-7d&rule_id=trawl-ct-003")).data.alerts.find((a) => a.id === first.id);
    await page.locator('#alerts tbody tr.al-group[data-rule="trawl-ct-003"]').first().getByRole("button", { name: /^Show the/ }).click();
    const alertRow = page.locator(`#alerts tbody tr.al-alert[data-id="${first.id}"]`);
    await alertRow.getByRole("checkbox").check();
    await page.waitForFunction(() => document.querySelector("#al-selected").textContent === "1 selected");
    await page.getByLabel("Assignee", { exact: true }).fill("alice");
    await page.getByRole("button", { name: "Assign", exact: true }).click();
    await page.waitForFunction((id) => document.querySelector(`tr.al-alert[data-id="${id}"]`)?.textContent.includes("alice"), first.id);
    await page.getByRole("button", { name: "Acknowledge", exact: true }).click();
    await page.waitForFunction((id) => document.querySelector(`tr.al-alert[data-id="${id}"]`)?.dataset.status === "acknowledged", first.id);
    let now = await alertNow();
    assert.equal(now.status, "acknowledged");
    assert.equal(now.assignee, "alice");
    await page.getByLabel("Close as", { exact: true }).selectOption("false-positive");
    await page.getByLabel("Note", { exact: true }).fill("planned maintenance window");
    await page.getByRole("button", { name: "Add note", exact: true }).click();
    await page.waitForFunction((id) => document.querySelector(`tr.al-alert[data-id="${id}"]`)?.textContent.includes("1 note"), first.id);
    await page.getByRole("button", { name: "Close", exact: true }).click();
    await page.waitForFunction((id) => document.querySelector(`tr.al-alert[data-id="${id}"]`)?.dataset.status === "closed", first.id);
    now = await alertNow();
    assert.equal(now.status, "closed");
    assert.equal(now.close_reason, "false-positive");
    assert.equal(now.notes.length, 1);
    assert.equal(now.notes[0].text, "planned maintenance window");
    await shot(page, "06e-alert-triage");
    await page.getByRole("button", { name: "Reopen", exact: true }).click();
    await page.waitForFunction((id) => document.querySelector(`tr.al-alert[data-id="${id}"]`)?.dataset.status === "open", first.id);
    now = await alertNow();
    assert.equal(now.status, "open");
    assert.equal(now.close_reason, undefined);
    const log = JSON.stringify((await api("GET", "/api/v1/audit")).data);
    assert.equal((log.match(/"alert\.update"/g) || []).length, 5, "each change is in the actor log");
    // A rule runs over past data from its row: what it finds is stored
    // already (the schedule's alerts), so nothing is new.
    await page.locator("#al-tenant").selectOption("acme");
    await page.locator('#al-rules tbody tr[data-rule="trawl-ct-003"]').getByRole("button", { name: /^Run trawl-ct-003/ }).click();
    await page.waitForFunction(() => /trawl-ct-003 ran over 7 days: \d+ alerts?, 0 new/.test(document.querySelector("#al-run-msg").textContent), null, { timeout: 60000 });
    await page.locator("#al-tenant").selectOption("");
    await page.locator('#alerts tbody tr[data-rule="trawl-ct-003"]').first().getByRole("link", { name: /Open the hunt/ }).click();
    await page.waitForSelector("#hunt-view:not([hidden])");
    await page.waitForFunction((ids) => {
      const shown = new Set([...document.querySelectorAll("#results tbody tr")].map((r) => r.dataset.id));
      return ids.every((id) => shown.has(id));
    }, first.records, { timeout: 20000 });

    await page.getByRole("link", { name: /Threat Hunting/ }).click();
    await page.waitForSelector("#hunt-view:not([hidden])");
    await page.getByLabel("Time range", { exact: true }).selectOption("-7d");
    await page.getByLabel("Query", { exact: true }).fill(`event_id:${env.EVENT_ID}`);
    await page.getByRole("button", { name: "Search" }).click();
    await huntShows(page, `event_id:${env.EVENT_ID}`, 1);
    await page.locator("#results tbody tr").first().click();
    await page.waitForSelector("#detail:not([hidden])");
    const raw = await page.locator("#raw").textContent();
    assert.match(raw, new RegExp(env.EVENT_ID));
    assert.match(raw, /\n  "/, "raw JSON is pretty-printed");
    assert.match(await page.locator("#detail-fields").textContent(), /msg_origin\.vendor/);
    await shot(page, "07-hunt-detail");

    // The hunt is in the URL: a reload reproduces it.
    assert.match(decodeURIComponent(page.url()), new RegExp(`#/hunt\\?.*q=event_id:${env.EVENT_ID}`));
    await page.reload();
    await page.waitForSelector("#hunt-view:not([hidden])");
    await page.waitForFunction(() => document.querySelector("#result-count").textContent.startsWith("1 "));
    assert.equal(await page.getByLabel("Query", { exact: true }).inputValue(), `event_id:${env.EVENT_ID}`);
    assert.equal(await page.getByLabel("Time range", { exact: true }).inputValue(), "-7d");

    // A hunt URL written by hand: range=7d is the preset Last 7 days, and
    // searches it; another duration back from now gets an option of its own.
    const handQ = `event_id:${env.EVENT_ID} AND NOT event_id:none`;
    await page.evaluate((q) => { location.hash = "#/hunt?q=" + encodeURIComponent(q) + "&range=7d"; }, handQ);
    await huntShows(page, handQ, 1);
    assert.equal(await page.getByLabel("Time range", { exact: true }).inputValue(), "-7d", "range=7d selects Last 7 days");
    assert.equal(await page.locator("#range option:checked").textContent(), "Last 7 days");
    await page.evaluate((q) => { location.hash = "#/hunt?q=" + encodeURIComponent(q) + "&range=-90d"; }, `event_id:${env.EVENT_ID}`);
    await huntShows(page, `event_id:${env.EVENT_ID}`, 1);
    assert.equal(await page.getByLabel("Time range", { exact: true }).inputValue(), "-90d", "range=-90d has an option of its own");
    assert.match(await page.locator("#range option:checked").textContent(), /90d/);
    await page.getByLabel("Time range", { exact: true }).selectOption("-7d");
    await settled(page);

    // Export: the whole result as CSV, one line per record and a header
    // of the visible columns, and it parses.
    await page.getByLabel("Query", { exact: true }).fill("");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForFunction(() => /^\d+ matching/.test(document.querySelector("#result-count").textContent) && !document.querySelector("#result-count").textContent.startsWith("1 "));
    const total = Number((await page.locator("#result-count").textContent()).split(" ")[0]);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
    const csvText = await (await import("node:fs/promises")).readFile(await download.path(), "utf8");
    const parsed = parseCSV(csvText);
    assert.equal(parsed.length, total + 1, `CSV rows for ${total} records`);
    assert.equal(csvText.split("\r\n").length - 1, parsed.length, "every record ends with CRLF");
    assert.deepEqual(parsed[0], await page.locator("#results thead th").allTextContents(), "the header is the visible columns");
    assert.ok(parsed.slice(1).every((r) => r.length === parsed[0].length), "every row has the header's columns");
    // The field sidebar's counts are the whole result's: equal to a count
    // of the same filter.
    const evField = page.locator('#field-list details[data-field="event_name"]');
    await evField.locator("summary").click();
    await evField.locator(".top-value").first().waitFor();
    const topName = await evField.locator(".top-name").first().textContent();
    const topCount = Number(await evField.locator(".top-count").first().textContent());
    const counted = await api("GET", `/api/v1/count?from=-7d&q=${encodeURIComponent(`event_name:${topName}`)}`);
    assert.equal(topCount, counted.data.count, `sidebar count of ${topName}`);
    const cliCount = execFileSync(env.TRAWL_BIN, ["search", "--count", "--from", "-7d", `event_name:${topName}`],
      { env: { ...process.env, TRAWL_DATA_DIR: env.TRAWL_DATA } }).toString().trim();
    assert.equal(String(topCount), cliCount, "sidebar count equals trawl search --count");
    assert.ok(topCount > 1 && topCount < total, `a top value's count (${topCount}) is over the whole result, not the page`);
    // Histogram: a time axis (UTC), the count on hover, a drag selects a
    // range whose count is the dragged bars' sum.
    await settled(page);
    const ticks = await page.locator("#histogram-axis .tick").allTextContents();
    assert.ok(ticks.length >= 2 && ticks.every((t) => /\d\d:\d\d$/.test(t)), `ticks: ${ticks}`);
    const histBars = page.locator("#histogram button");
    const counts = await histBars.evaluateAll((bs) => bs.map((b) => Number(b.dataset.count)));
    const nonzero = counts.map((c, i) => [c, i]).filter(([c]) => c > 0).map(([, i]) => i);
    const [ba, bb] = [nonzero[0], nonzero[Math.min(nonzero.length - 1, 2)]];
    const dragged = counts.slice(ba, bb + 1).reduce((x, y) => x + y, 0);
    assert.match(await histBars.nth(ba).getAttribute("title"), new RegExp(`^${counts[ba]} records? from .* \\(UTC\\)$`));
    // hover() scrolls the bar into view and waits for it to be stable, so
    // the drag lands on the bars even when the layout moved.
    await histBars.nth(ba).hover({ position: { x: 1, y: 1 } });
    await page.mouse.down();
    await histBars.nth(bb).hover({ position: { x: 1, y: 1 } });
    await page.mouse.up();
    // The drag made a new hunt (the range turned absolute) with the dragged
    // bars' count.
    await page.waitForFunction(() => document.querySelector("#range").value === "custom" && location.hash.includes("from="), null, { timeout: 10000 });
    await settled(page);
    await page.waitForFunction((n) => document.querySelector("#result-count").textContent.startsWith(`${n} matching`), dragged);
    await shot(page, "07c-histogram-drag");
    await page.goBack();
    await page.waitForFunction(() => document.querySelector("#range").value === "-7d");
    await settled(page);
    await page.waitForFunction((n) => document.querySelector("#result-count").textContent.startsWith(`${n} matching`), total);
    // The same with the keyboard: Shift+arrows extend a range, Enter zooms.
    const kbBars = await histBars.evaluateAll((bs) => bs.map((b) => Number(b.dataset.count)));
    const k0 = kbBars.findIndex((c) => c > 0);
    const k1 = Math.min(kbBars.length - 1, k0 + 2);
    await histBars.nth(k0).focus();
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("Shift+ArrowRight");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => document.querySelector("#range").value === "custom" && location.hash.includes("from="), null, { timeout: 10000 });
    await settled(page);
    const kbWant = kbBars.slice(k0, k1 + 1).reduce((x, y) => x + y, 0);
    await page.waitForFunction((n) => document.querySelector("#result-count").textContent.startsWith(`${n} matching`), kbWant, { timeout: 10000 }).catch(async () => {
      throw new Error(`keyboard range over bars ${k0}..${k1} of ${JSON.stringify(kbBars)}: want ${kbWant}, got "${await page.locator("#result-count").textContent()}" at ${decodeURIComponent(page.url())}`);
    });
    await page.goBack();
    await page.waitForFunction(() => document.querySelector("#range").value === "-7d");
    await settled(page);
    await page.waitForFunction((n) => document.querySelector("#result-count").textContent.startsWith(`${n} matching`), total);
    // Back returns to the previous hunt.
    await page.goBack();
    await huntShows(page, `event_id:${env.EVENT_ID}`, 1);
    assert.equal(await page.getByLabel("Query", { exact: true }).inputValue(), `event_id:${env.EVENT_ID}`);

    // A saved search reopens with the same results; it can be deleted.
    await page.getByLabel("Save this hunt as", { exact: true }).fill("one event");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await page.waitForFunction(() => document.querySelector("#save-status").textContent.includes("Saved"));
    await page.getByLabel("Query", { exact: true }).fill("");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForFunction(() => /^\d+ matching/.test(document.querySelector("#result-count").textContent) && !document.querySelector("#result-count").textContent.startsWith("1 "));
    const savedID = await page.locator("#saved option", { hasText: "one event" }).getAttribute("value");
    await page.locator("#saved").selectOption(savedID);
    await page.getByRole("button", { name: "Open", exact: true }).click();
    await page.waitForFunction(() => document.querySelector("#result-count").textContent.startsWith("1 "));
    assert.equal(await page.getByLabel("Query", { exact: true }).inputValue(), `event_id:${env.EVENT_ID}`);
    await page.locator("#saved").selectOption(savedID);
    await page.locator("#saved-delete").click();
    await page.locator("#confirm-dialog").getByRole("button", { name: "Delete" }).click();
    await page.waitForFunction(() => document.querySelector("#save-status").textContent.includes("Deleted"));
    assert.equal(await page.locator("#saved option", { hasText: "one event" }).count(), 0);
    await page.locator("#results tbody tr").first().click();
    await page.waitForSelector("#detail:not([hidden])");

    // Pivot: the records with this one's source IP within an hour, only those.
    const ip = await page.locator("#detail-fields tr", { has: page.locator("td", { hasText: /^srcip$/ }) }).locator("td").nth(1).evaluate((td) => td.firstChild.textContent);
    await page.getByRole("button", { name: /^Same source IP/ }).click();
    await page.waitForFunction((ip) => location.hash.includes("q=srcip") && /^\d+ matching/.test(document.querySelector("#result-count").textContent) &&
      document.querySelector("#query").value.includes(ip), ip);
    await page.waitForFunction(() => document.querySelectorAll("#results tbody tr").length > 0);
    const heads = await page.locator("#results thead th").allTextContents();
    const col = heads.indexOf("srcip");
    assert.ok(col >= 0, "srcip is a column");
    const ips = await page.locator("#results tbody tr").evaluateAll((rs, c) => rs.map((r) => r.children[c].textContent), col);
    assert.ok(ips.length >= 1 && ips.every((v) => v === ip), `pivot on ${ip} found ${ips}`);
    assert.equal(await page.getByLabel("Time range", { exact: true }).inputValue(), "custom");
    await shot(page, "07b-pivot");
    await page.goBack();
    await huntShows(page, `event_id:${env.EVENT_ID}`, 1);
    await page.locator("#results tbody tr").first().click();
    await page.waitForSelector("#detail:not([hidden])");

    // "Filter out" from the detail adds a NOT term.
    await page.getByRole("button", { name: /^Filter out event_name/ }).click();
    await page.waitForFunction(() => document.querySelector("#result-count").textContent.startsWith("0 "));
    assert.match(await page.getByLabel("Query", { exact: true }).inputValue(), /NOT event_name:/);

    // A malformed query is explained at its position.
    await page.getByLabel("Query", { exact: true }).fill("event_name:(CreateUser OR");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForFunction(() => document.querySelector("#query-error").textContent.includes("position"));
    assert.match(await page.locator("#query-error").textContent(), /\^/);
    await shot(page, "08-query-error");

    // Histogram: zoom into a bar that has records.
    await page.getByLabel("Query", { exact: true }).fill("");
    await page.getByRole("button", { name: "Search" }).click();
    await page.waitForFunction(() => document.querySelector("#result-count").textContent.startsWith("200 "));
    const bar = page.locator("#histogram button").filter({ hasNot: page.locator("x") });
    const bars = await bar.evaluateAll((els) => els.map((e, i) => [i, e.getAttribute("aria-label")]).filter(([, l]) => !l.startsWith("0 ")));
    assert.ok(bars.length > 0, "histogram has bars with records");
    const [idx, label] = bars[0];
    const want = Number(label.split(" ")[0]);
    await page.locator("#histogram button").nth(idx).click();
    await page.waitForFunction((n) => document.querySelector("#result-count").textContent.startsWith(n + " "), want);
    assert.equal(await page.getByLabel("Time range", { exact: true }).inputValue(), "custom");
    await shot(page, "09-histogram-zoom");

    // Column picker adds a column.
    await page.locator("#column-picker summary").click();
    await page.locator('#column-list input[value="user.arn"]').check();
    assert.match(await page.locator("#results thead").textContent(), /user\.arn/);

    // Keyboard: a row opens its detail with Enter.
    await page.locator("#results tbody tr").first().focus();
    await page.keyboard.press("Enter");
    await page.waitForSelector("#detail:not([hidden])");

    // Narrow window.
    await page.setViewportSize({ width: 420, height: 800 });
    await shot(page, "10-hunt-narrow");
    await page.setViewportSize({ width: 1280, height: 800 });

    // Quarantine view.
    await page.getByRole("link", { name: /Connectors/ }).click();
    await page.waitForSelector("#connectors-view:not([hidden])");
    await page.locator('#connectors tr[data-name="console-trail"]').getByRole("button", { name: "Quarantine of console-trail" }).click();
    await page.waitForFunction(() => location.hash.startsWith("#/quarantine/"), null, { timeout: 10000 }).catch(async () => {
      await shot(page, "xx-quarantine-click");
      throw new Error("the Quarantine button did not open the quarantine (hash " + (await page.evaluate(() => location.hash)) + ")");
    });
    await page.waitForSelector("#quarantine-view:not([hidden])");
    // The view shows before its list is fetched: wait for the rows (or
    // the row saying there are none), as a reader does.
    await page.waitForFunction(() => document.querySelector("#quarantine tbody tr") !== null, null, { timeout: 10000 });
    assert.match(await page.locator("#quarantine").textContent(), /Nothing is quarantined/);
    await shot(page, "11-quarantine");

    // A tenant-scope token sees only its tenant.
    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(page, env.TRAWL_TENANT_TOKEN);
    assert.equal(await page.locator("#connectors tbody tr").count(), 0);
    assert.match(await page.locator("#who").textContent(), /tenant other/);
    await page.getByRole("link", { name: /Threat Hunting/ }).click();
    await page.waitForSelector("#hunt-view:not([hidden])", { timeout: 10000 }).catch(async () => { await shot(page, "xx-tenant-hunt"); throw new Error("hunt view not shown for the tenant token: " + page.url()); });
    await shot(page, "12-tenant-hunt");
    await page.getByLabel("Time range", { exact: true }).selectOption("-30d", { timeout: 5000 });
    await page.waitForFunction(() => document.querySelector("#result-count").textContent.startsWith("0 "));
    assert.equal(await page.locator("#tenant-field").isVisible(), false, "no tenant selector for a tenant token");
    await shot(page, "12-tenant-scope");

    assert.deepEqual(errors, [], "no script errors");
  } finally {
    await browser.close();
  }
});

// A connector with an SQS queue (event-driven collection), made, reviewed,
// shown and removed through the console. The queue URL's host is never
// dialed on save, so an AWS queue URL does here; the bucket does not
// exist (nothing is collected).
test("connector with an SQS queue: wizard, review, status, edit", { timeout: 120000 }, async () => {
  const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/trawl-test";
  const api = async (method, path, body) => {
    const r = await fetch(env.TRAWL_URL + path, { method, headers: { Authorization: "Bearer " + env.TRAWL_TOKEN, "Content-Type": "application/json" }, body: body && JSON.stringify(body) });
    return { status: r.status, data: await r.json().catch(() => null) };
  };
  const browser = await launch();
  let id;
  try {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    ctx.setDefaultTimeout(10000);
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error" && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
    await signIn(page, env.TRAWL_TOKEN);

    await page.getByRole("button", { name: "New connector" }).click();
    const wiz = page.locator("#wizard");
    await wiz.waitFor();
    await wiz.getByLabel("Name", { exact: true }).fill("queue-trail");
    await wiz.getByLabel("Tenant", { exact: true }).fill("acme");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="2"]:not([hidden])');
    await wiz.getByLabel("Bucket", { exact: true }).fill("queue-trail-absent");
    await wiz.getByLabel("Prefix", { exact: true }).fill(env.PREFIX);
    await wiz.getByLabel("Credentials", { exact: true }).selectOption("keys");
    await wiz.getByLabel("Access key ID", { exact: true }).fill(env.S3_KEY);
    await wiz.getByLabel("Secret access key", { exact: true }).fill(env.S3_SECRET);
    await wiz.getByLabel(/S3 endpoint/).fill(env.S3_ENDPOINT);
    await wiz.getByLabel("Path-style addressing", { exact: true }).check();

    // The queue is optional: its group starts collapsed.
    assert.equal(await wiz.locator("#queue-group").evaluate((d) => d.open), false, "the queue's group starts collapsed");
    assert.equal(await wiz.getByLabel("Queue URL", { exact: true }).isVisible(), false);
    await wiz.locator("#queue-group summary").click();
    assert.match(await wiz.locator("#queue-group summary").textContent(), /Event notifications \(SQS\)/);

    // What the API could not read is refused at once, next to its field.
    await wiz.getByLabel("Queue URL", { exact: true }).fill("ftp://x");
    await wiz.getByLabel("Visibility timeout", { exact: true }).fill("5 minutes");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForFunction(() => document.querySelector('[data-error="queue_visibility"]').textContent !== "");
    assert.match(await wiz.locator('[data-error="queue_visibility"]').textContent(), /not a duration/);
    assert.equal(await wiz.locator('fieldset[data-step="2"]').isVisible(), true, "stays on step 2");

    // A bad queue URL and too many receivers: the API's problems, inline.
    await wiz.getByLabel("Visibility timeout", { exact: true }).fill("90s");
    await wiz.getByLabel("Receivers per node", { exact: true }).fill("40");
    await page.waitForFunction(() => document.querySelector("#prefix-error").textContent === "");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="3"]:not([hidden])');
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="4"]:not([hidden])');
    await wiz.getByRole("button", { name: "Submit" }).click();
    await page.waitForFunction(() => document.querySelector('[data-error="queue_url"]').textContent !== "");
    assert.equal(await wiz.locator('fieldset[data-step="2"]').isVisible(), true, "back on the queue's step");
    const urlErr = wiz.locator('[data-error="queue_url"]');
    assert.equal(await urlErr.isVisible(), true, "the queue's group opens on its errors");
    assert.match(await urlErr.textContent(), /queue URL looks like https:\/\/sqs\./);
    assert.match(await wiz.locator('[data-error="queue_receivers"]').textContent(), /between 1 and 32/);
    assert.match(await wiz.locator("#wizard-error").textContent(), /queue_url/);
    await shot(page, "13-queue-errors");
    assert.equal((await api("GET", "/api/v1/connectors")).data.connectors.some((c) => c.name === "queue-trail"), false, "nothing saved");

    // Fixed: region from the URL, receivers 4, 90 s, messages kept.
    await wiz.getByLabel("Queue URL", { exact: true }).fill(queueURL);
    await wiz.getByLabel("Receivers per node", { exact: true }).fill("4");
    await wiz.getByLabel("Messages announcing nothing", { exact: true }).selectOption("keep");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="3"]:not([hidden])');
    assert.equal(await wiz.locator('[data-error="queue_url"]').textContent(), "", "the errors are cleared");

    // The policy step takes the queue's KMS key, sent as queue_kms_key_arn.
    await page.waitForFunction(() => document.querySelector("#policy-json").textContent.startsWith("{"));
    const queueKMS = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    await wiz.getByLabel(/Queue KMS key ARN/).fill(queueKMS);
    const [policyReq] = await Promise.all([
      page.waitForRequest((r) => r.url().endsWith("/api/v1/policy") && r.method() === "POST", { timeout: 10000 }),
      wiz.getByRole("button", { name: "Show IAM policy" }).click(),
    ]);
    const sent = policyReq.postDataJSON();
    assert.equal(sent.queue_kms_key_arn, queueKMS);
    assert.equal(sent.queue_url, queueURL);
    await page.waitForFunction(() => document.querySelector("#policy-json").textContent !== "…");
    await wiz.getByLabel(/Queue KMS key ARN/).fill("");
    await wiz.getByRole("button", { name: "Show IAM policy" }).click();
    await page.waitForFunction(() => document.querySelector("#policy-json").textContent.startsWith("{"));
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="4"]:not([hidden])');

    // The review lists the queue's settings, defaults named.
    const review = async () => Object.fromEntries(await wiz.locator("#confirm tr").evaluateAll((rs) => rs.map((r) => [r.cells[0].textContent, r.cells[1].textContent])));
    let rv = await review();
    assert.equal(rv["SQS queue"], queueURL);
    assert.equal(rv["Queue region"], "us-east-1 (from the URL)");
    assert.equal(rv["Queue endpoint"], "AWS");
    assert.equal(rv["Receivers per node"], "4");
    assert.equal(rv["Visibility timeout"], "90s");
    assert.equal(rv["Messages announcing nothing"], "keep for the queue's redrive policy");
    assert.equal(rv["Polling"], "every 1h0m0s as a safety net");
    await shot(page, "14-queue-review");
    await wiz.getByRole("button", { name: "Submit" }).click();
    await page.waitForFunction(() => !document.querySelector("#wizard").open);
    await page.waitForSelector('#connectors tr[data-name="queue-trail"]');

    // Saved as sent, with the API's defaults: hourly polling, the URL's region.
    const saved = (await api("GET", "/api/v1/connectors")).data.connectors.find((c) => c.name === "queue-trail");
    id = saved.id;
    assert.equal(saved.queue_url, queueURL);
    assert.equal(saved.queue_region, "us-east-1");
    assert.equal(saved.queue_endpoint, undefined);
    assert.equal(saved.queue_receivers, 4);
    assert.equal(saved.queue_visibility, "1m30s");
    assert.equal(saved.queue_ignored, "keep");
    assert.equal(saved.interval, "1h0m0s");

    // The status view: hourly polling as a safety net, and the queue's
    // counts. (The queue cannot be reached here, so the status response's
    // queue object is the one this test gives it.)
    const oldest = new Date(Date.now() - 150e3).toISOString();
    const queueStatus = { receivers: 4, received: 12, deleted: 11, collected: 9, ignored: { "test-event": 1, "other-bucket": 1 }, failed: 1, deferred: 0,
      visible: 3, in_flight: 1, delayed: 0, oldest_in_flight: oldest, latency_p50_seconds: 2.5, latency_p95_seconds: 8.5,
      last_error: "ReceiveMessage: 403 AccessDenied", last_error_at: new Date().toISOString() };
    await page.route(`**/api/v1/connectors/${id}/status`, async (route) => {
      const resp = await route.fetch();
      const body = await resp.json();
      await route.fulfill({ response: resp, json: { ...body, queue: queueStatus } });
    });
    await page.getByRole("link", { name: "Status of queue-trail" }).click();
    await page.waitForSelector('#status-view:not([hidden])[aria-busy="false"]');
    await page.waitForFunction(() => document.querySelector("#status-title").textContent === "Status: queue-trail");
    const collection = await page.locator("#status-collection").textContent();
    assert.match(collection, /polling every 1h0m0s as a safety net/);
    assert.ok(collection.includes(queueURL), collection);
    assert.equal(await page.locator("#queue-table").isVisible(), true);
    const q = Object.fromEntries(await page.locator("#queue-table tr").evaluateAll((rs) => rs.map((r) => [r.dataset.k, r.cells[1].textContent])));
    assert.equal(q.receivers, "4");
    assert.equal(q.received, "12");
    assert.equal(q.deleted, "11");
    assert.equal(q.collected, "9");
    assert.equal(q.ignored, "2 (other-bucket 1, test-event 1)");
    assert.equal(q.failed, "1");
    assert.equal(q.visible, "3");
    assert.equal(q.in_flight, "1");
    assert.match(q.oldest_in_flight, /UTC \(\d+ (s|min) ago\)$/);
    assert.equal(q.latency, "2.5 s / 8.5 s");
    assert.match(q.last_error, /^ReceiveMessage: 403 AccessDenied \(at .* UTC\)$/);
    await shot(page, "15-queue-status");
    await page.unroute(`**/api/v1/connectors/${id}/status`);
    await page.getByRole("link", { name: "Back to connectors" }).click();
    // The list reloads and replaces its rows: a click before it is done
    // may land on a row being replaced.
    await page.waitForSelector('#connectors[aria-busy="false"] tr[data-name="queue-trail"]');

    // Edit shows the stored queue; clearing its URL removes the queue.
    await page.getByRole("button", { name: "Edit queue-trail" }).click();
    await page.waitForFunction(() => document.querySelector("#wizard").open);
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="2"]:not([hidden])');
    assert.equal(await wiz.locator("#queue-group").evaluate((d) => d.open), true, "open for a connector with a queue");
    assert.equal(await wiz.getByLabel("Queue URL", { exact: true }).inputValue(), queueURL);
    assert.equal(await wiz.getByLabel("Queue region", { exact: true }).inputValue(), "us-east-1");
    assert.equal(await wiz.getByLabel("Receivers per node", { exact: true }).inputValue(), "4");
    assert.equal(await wiz.getByLabel("Visibility timeout", { exact: true }).inputValue(), "1m30s");
    assert.equal(await wiz.getByLabel("Messages announcing nothing", { exact: true }).inputValue(), "keep");
    await wiz.getByLabel("Queue URL", { exact: true }).fill("");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="3"]:not([hidden])');
    assert.equal(await wiz.getByLabel(/Queue KMS key ARN/).isVisible(), false, "no queue KMS key without a queue");
    await wiz.getByRole("button", { name: "Next" }).click();
    await page.waitForSelector('#wizard fieldset[data-step="4"]:not([hidden])');
    rv = await review();
    assert.equal(rv["SQS queue"], "none");
    assert.equal(rv["Queue region"], undefined);
    assert.equal(rv["Polling"], "every 5m0s");
    await wiz.getByRole("button", { name: "Submit" }).click();
    await page.waitForFunction(() => !document.querySelector("#wizard").open);
    const cleared = (await api("GET", `/api/v1/connectors/${id}`)).data;
    for (const k of ["queue_url", "queue_region", "queue_endpoint", "queue_receivers", "queue_visibility", "queue_ignored"]) {
      assert.equal(cleared[k], undefined, `${k} is gone`);
    }
    assert.equal(cleared.interval, "5m0s", "polling at the default without a queue again");
    await page.getByRole("link", { name: "Status of queue-trail" }).click();
    await page.waitForSelector('#status-view:not([hidden])[aria-busy="false"]');
    await page.waitForFunction(() => /^Polling every 5m0s\.$/.test(document.querySelector("#status-collection").textContent));
    assert.equal(await page.locator("#queue-status").isVisible(), false, "no queue section without a queue");

    assert.deepEqual(errors, [], "no script errors");
  } finally {
    if (id) await api("DELETE", `/api/v1/connectors/${id}`);
    await browser.close();
  }
});

// quoteValue, the console's quoting of values for field:value, follows
// query.Quote's rules exactly: ui_test.go passes Go's output for values
// the query language reads specially (QUOTES, JSON [value, quoted] pairs).
test("quoteValue quotes as query.Quote", async () => {
  const src = (await import("node:fs/promises")).readFile(new URL("../../web/static/app.js", import.meta.url), "utf8");
  const m = (await src).match(/\nfunction quoteValue\(v\) \{\n[\s\S]*?\n\}\n/);
  assert.ok(m, "app.js has function quoteValue(v)");
  const quoteValue = new Function(m[0] + "; return quoteValue;")();
  const pairs = JSON.parse(env.QUOTES);
  assert.ok(pairs.length > 10);
  for (const [v, want] of pairs) assert.equal(quoteValue(v), want, `quoteValue(${JSON.stringify(v)})`);
});
