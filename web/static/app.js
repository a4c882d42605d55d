// Trawl console: plain JavaScript over the /api/v1 API. The token lives in
// sessionStorage and travels only in the Authorization header, so there is
// no cookie for a cross-site request to ride on (CSRF-safe by construction).

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

const state = {
  token: sessionStorage.getItem("trawl.token") || "",
  me: null,
  meta: null,
  connectors: [],
  editing: null, // connector being edited, or null for a new one
  step: 1,
  hunt: { rows: [], next: null, columns: null, selected: null },
};

// ---------- API ----------
class APIError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.body = (body && body.error) || {};
  }
}

async function api(method, path, body, headers = {}) {
  const opts = { method, headers: { Authorization: "Bearer " + state.token, ...headers } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (resp.status === 401) {
    signOut("Your token was not accepted; sign in again.");
    throw new APIError(401, data);
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return { data, headers: resp.headers };
}

// ---------- helpers ----------
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// plural counts a noun in words: "1 record", "3 records".
function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  return isNaN(d) ? String(s) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
}

function fmtAge(seconds) {
  if (seconds === undefined || seconds === null) return "—";
  const s = Math.round(seconds);
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

function cellText(v) {
  if (v === undefined || v === null || v === "") return "—";
  if (Array.isArray(v)) return v.join(", ");
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return fmtTime(v);
  return String(v);
}

// ---------- routing ----------
function show(id) {
  for (const v of ["signin-view", "connectors-view", "hunt-view", "quarantine-view", "audit-view", "status-view", "overview-view", "alerts-view"]) $("#" + v).hidden = v !== id;
  $("#topbar").hidden = id === "signin-view";
  for (const [nav, view] of [["#nav-connectors", "connectors-view"], ["#nav-hunt", "hunt-view"], ["#nav-overview", "overview-view"], ["#nav-alerts", "alerts-view"]]) {
    if (id === view) $(nav).setAttribute("aria-current", "page");
    else $(nav).removeAttribute("aria-current");
  }
  // Away from the list, its rows go stale: they are busy until the next
  // load replaces them.
  if (id !== "connectors-view") $("#connectors").setAttribute("aria-busy", "true");
}

async function route() {
  if (!state.token) { show("signin-view"); $("#token").focus(); return; }
  if (!state.me) {
    try {
      state.me = (await api("GET", "/api/v1/whoami")).data;
      state.meta = (await api("GET", "/api/v1/meta")).data;
    } catch (e) { return; }
    $("#who").textContent = state.me.root ? "root" : "tenant " + state.me.tenant;
    fillRegions();
  }
  const h = location.hash || "#/connectors";
  if (h.startsWith("#/hunt")) { show("hunt-view"); initHunt(); }
  else if (h.startsWith("#/quarantine/")) { show("quarantine-view"); loadQuarantine(decodeURIComponent(h.slice(13))); }
  else if (h.startsWith("#/audit/")) { show("audit-view"); loadAudit(decodeURIComponent(h.slice(8))); }
  else if (h.startsWith("#/status/")) { show("status-view"); loadStatus(decodeURIComponent(h.slice(9))); }
  else if (h.startsWith("#/overview")) { show("overview-view"); loadOverview(); }
  else if (h.startsWith("#/alerts")) { show("alerts-view"); loadAlerts(); }
  else { show("connectors-view"); loadConnectors(); }
}

function signOut(msg) {
  state.token = ""; state.me = null;
  sessionStorage.removeItem("trawl.token");
  $("#signin-error").textContent = msg || "";
  show("signin-view");
}

// ---------- connectors ----------
let connectorsSeq = 0;
async function loadConnectors() {
  // Loads can overlap (a route change while one is in flight): only the
  // newest one renders.
  const seq = ++connectorsSeq;
  // Busy until the newest load renders: its rows replace the ones shown
  // (a click on a row being replaced is lost).
  $("#connectors").setAttribute("aria-busy", "true");
  const { data } = await api("GET", "/api/v1/connectors");
  const statuses = await Promise.all(data.connectors.map((c) => api("GET", `/api/v1/connectors/${c.id}/status`).then((r) => r.data).catch(() => null)));
  if (seq !== connectorsSeq) return;
  state.connectors = data.connectors;
  $("#connectors-empty").hidden = data.connectors.length > 0;
  // Which node ran what is shown once more than one node appears (a
  // shared catalog); on one node it would only repeat the host name.
  const nodes = new Set(statuses.map((st) => st && st.last_run && st.last_run.node).filter(Boolean));
  const rows = [];
  data.connectors.forEach((c, i) => {
    const st = statuses[i] || {};
    const run = st.last_run;
    let status = el("span", { class: "status-none", text: "not run yet" });
    const test = st.last_test;
    if (run && run.result === "failed" && test && test.ok && new Date(test.at) > new Date(run.started_at)) {
      // Fixed since the failure: the next run confirms it.
      status = el("span", { class: "status-ok", title: `test passed at ${fmtTime(test.at)}; last run failed: ${run.status || ""} ${run.reason || ""}`.trim(), tabindex: "0", text: "test passed" });
    } else if (run) {
      // A failing connector backs off: say when it is tried next.
      const retry = st.consecutive_failures && st.next_run ? ` (${st.consecutive_failures} failed in a row; next try ${fmtTime(st.next_run)})` : "";
      status = run.result === "ok"
        ? el("span", { class: "status-ok", text: "ok" })
        : el("span", { class: "status-failed", title: `${run.status || ""} ${run.reason || ""} ${run.recommendation || ""}`.trim() + retry, tabindex: "0",
          "aria-label": `failed: ${run.status || ""} ${run.reason || ""} ${run.recommendation || ""}`.trim() + retry,
          text: run.result === "running" ? "running" : run.result === "interrupted" ? "interrupted" : `failed (${run.status || "?"})` });
    }
    const tr = el("tr", { "data-name": c.name },
      el("td", {}, el("a", { href: "#/status/" + encodeURIComponent(c.id), "aria-label": `Status of ${c.name}` }, c.name)),
      el("td", {}, c.tenant),
      el("td", {}, c.sub_type),
      el("td", {}, el("code", {}, `${c.bucket}/${c.prefix}`)),
      el("td", {}, c.enabled ? "yes" : "no"),
      el("td", {}, status),
      el("td", { class: "nowrap", title: run && run.node ? `run by node ${run.node}` : "" },
        run ? fmtTime(run.started_at) + (run.node && (nodes.size > 1 || c.run_on === "*") ? ` on ${run.node}` : "") : "—"),
      el("td", {}, st.totals ? String(st.totals.records) : "0"),
      el("td", {}, fmtAge(st.lag_seconds)),
      el("td", {}, integrityCell(c, st.integrity)),
      el("td", { class: "actions-cell" },
        el("button", { type: "button", onclick: () => runTest(c), "aria-label": `Test ${c.name}` }, "Test"),
        el("button", { type: "button", onclick: () => openWizard(c), "aria-label": `Edit ${c.name}` }, "Edit"),
        el("button", { type: "button", onclick: () => toggle(c), "aria-label": `${c.enabled ? "Disable" : "Enable"} ${c.name}` }, c.enabled ? "Disable" : "Enable"),
        el("button", { type: "button", onclick: () => { location.hash = "#/quarantine/" + encodeURIComponent(c.id); }, "aria-label": `Quarantine of ${c.name}` }, "Quarantine"),
        el("button", { type: "button", onclick: () => removeConnector(c), "aria-label": `Delete ${c.name}` }, "Delete")));
    rows.push(tr);
  });
  $("#connectors tbody").replaceChildren(...rows);
  $("#connectors").setAttribute("aria-busy", "false");
}

// integrityCell sums a CloudTrail connector's digest audit of the last
// week and opens its per-hour view.
function integrityCell(c, in_) {
  if (c.sub_type !== "cloudtrail") return "—";
  if (!in_) return el("a", { href: "#/audit/" + encodeURIComponent(c.id) }, "not audited");
  const h = in_.hours || {};
  const bad = in_.missing_files + in_.altered_files;
  const text = bad > 0 ? `${in_.missing_files} missing · ${in_.altered_files} altered`
    : (h.unverifiable ? `${h.verified || 0} h verified · ${h.unverifiable} unverifiable` : `${h.verified || 0} h verified`);
  return el("a", { href: "#/audit/" + encodeURIComponent(c.id), class: bad > 0 ? "status-failed" : (h.unverifiable ? "status-none" : "status-ok"),
    "aria-label": `Integrity of ${c.name}: ${text}` }, text);
}

async function loadAudit(id) {
  const c = (state.connectors || []).find((x) => x.id === id) || (await api("GET", `/api/v1/connectors/${id}`)).data;
  $("#audit-title").textContent = `Integrity: ${c.name}`;
  $("#audit-run").onclick = async () => {
    $("#audit-summary").textContent = "Auditing…";
    renderAudit(await auditPages(id, "POST"));
  };
  renderAudit(await auditPages(id, "GET"));
}

// auditPages reads a week of audit results a page at a time (the POST runs
// the audit and answers the first page; GETs with its cursor follow), at
// most 50 pages of 200 hours, which a week of 50 accounts and regions is.
async function auditPages(id, method) {
  const from = new Date(Date.now() - 7 * 86400e3).toISOString();
  const base = `/api/v1/connectors/${id}/audit?from=${encodeURIComponent(from)}&limit=200`;
  let page = (await api(method, base)).data;
  const results = [...page.results];
  for (let n = 1; page.next && n < 50; n++) {
    page = (await api("GET", `${base}&cursor=${encodeURIComponent(page.next)}`)).data;
    results.push(...page.results);
  }
  results.truncated = Boolean(page.next);
  return results;
}

function renderAudit(results) {
  const counts = {};
  const rows = results.slice().reverse().map((r) => {
    counts[r.status] = (counts[r.status] || 0) + 1;
    const detail = [...r.missing.map((k) => "missing " + k), ...r.altered.map((k) => "altered " + k)];
    if (r.missing_more) detail.push(`and ${r.missing_more} more missing`);
    if (r.altered_more) detail.push(`and ${r.altered_more} more altered`);
    const unlisted = (r.unlisted || []).length + (r.unlisted_more || 0);
    if (unlisted) detail.push(`${plural(unlisted, "collected file")} in no digest`);
    if (r.reason) detail.push(r.reason);
    return el("tr", { "data-status": r.status },
      el("td", { class: "nowrap" }, r.hour.replace("T", " ").slice(0, 16)), el("td", {}, r.account), el("td", {}, r.region),
      el("td", {}, el("span", { class: r.status === "verified" ? "status-ok" : (r.status === "missing" || r.status === "altered") ? "status-failed" : "status-none" }, r.status)),
      el("td", {}, String(r.files)), el("td", {}, detail.join("; ")));
  });
  $("#audit-summary").textContent = `${plural(results.length, "hour")}: ` + ["verified", "missing", "altered", "unlisted", "unverifiable"].map((s) => `${counts[s] || 0} ${s}`).join(", ") +
    (results.truncated ? " (only the oldest 10,000 hours of the week are shown; trawl audit lists every hour)" : "");
  $("#audit tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "6" }, "No digest audited yet in the last week."))]));
}

// ---------- connector status ----------
let statusSeq = 0;
async function loadStatus(id) {
  const seq = ++statusSeq;
  const view = $("#status-view");
  view.setAttribute("aria-busy", "true");
  $("#status-refresh").onclick = () => loadStatus(id);
  let st;
  try {
    st = (await api("GET", `/api/v1/connectors/${encodeURIComponent(id)}/status`)).data;
  } catch (e) {
    if (seq !== statusSeq) return;
    $("#status-collection").textContent = e.message;
    $("#status-table tbody").replaceChildren();
    $("#queue-status").hidden = true;
    view.setAttribute("aria-busy", "false");
    return;
  }
  if (seq !== statusSeq) return;
  renderStatus(st);
  view.setAttribute("aria-busy", "false");
}

function kvRows(rows) {
  return rows.map(([k, v, key]) => el("tr", { "data-k": key }, el("th", { scope: "row" }, k), el("td", {}, v)));
}

// fmtSeconds writes a latency: tenths of a second below 10 s.
function fmtSeconds(s) {
  if (typeof s !== "number") return "—";
  return s < 10 ? s.toFixed(1) + " s" : fmtAge(s);
}

function renderStatus(st) {
  const c = st.connector || {};
  const run = st.last_run;
  const test = st.last_test;
  $("#status-title").textContent = `Status: ${c.name}`;
  $("#status-collection").textContent = (c.enabled ? "" : "Disabled. ") + (c.queue_url
    ? `Collects the objects the SQS queue ${c.queue_url} announces, within seconds; polling every ${c.interval} as a safety net.`
    : `Polling every ${c.interval}.`);
  const runText = run ? `${run.result} at ${fmtTime(run.started_at)}${run.node ? ` on ${run.node}` : ""}` +
    (run.result === "ok" ? `: ${plural(run.objects, "object")}, ${plural(run.records, "record")}` : run.reason ? `: ${[run.status, run.reason].filter(Boolean).join(" ")}` : "") : "not run yet";
  const tot = st.totals || {};
  $("#status-table tbody").replaceChildren(...kvRows([
    ["Last run", runText, "last_run"],
    ["Next run", st.running ? "running now" : fmtTime(st.next_run) + (st.consecutive_failures ? ` (${st.consecutive_failures} failed in a row)` : ""), "next_run"],
    ["Collected", `${plural(tot.objects || 0, "object")}, ${plural(tot.records || 0, "record")}${tot.quarantined ? `, ${tot.quarantined} quarantined` : ""}`, "totals"],
    ["Lag", fmtAge(st.lag_seconds), "lag"],
    ["Last test", test ? `${test.ok ? "passed" : "failed"} at ${fmtTime(test.at)}: ${test.summary}` : "—", "last_test"],
  ]));
  const q = st.queue;
  $("#queue-status").hidden = !c.queue_url && !q;
  $("#queue-status-none").hidden = !!q;
  $("#queue-table").hidden = !q;
  if (!q) { $("#queue-table tbody").replaceChildren(); return; }
  const ignored = Object.entries(q.ignored || {}).sort(([a], [b]) => a.localeCompare(b));
  const ignoredN = ignored.reduce((n, [, v]) => n + v, 0);
  const oldest = q.oldest_in_flight ? `${fmtTime(q.oldest_in_flight)} (${fmtAge((Date.now() - new Date(q.oldest_in_flight)) / 1000)} ago)` : "—";
  $("#queue-table tbody").replaceChildren(...kvRows([
    ["Receivers on this node", String(q.receivers), "receivers"],
    ["Messages received", String(q.received), "received"],
    ["Deleted", String(q.deleted), "deleted"],
    ["Collected (every object of the message)", String(q.collected), "collected"],
    ["Ignored (announcing nothing to collect)", String(ignoredN) + (ignored.length ? ` (${ignored.map(([k, v]) => `${k} ${v}`).join(", ")})` : ""), "ignored"],
    ["Failed (left to come back)", String(q.failed), "failed"],
    ["Deferred (objects held by another run or node)", String(q.deferred), "deferred"],
    ["Waiting in the queue (SQS, approximate)", String(q.visible), "visible"],
    ["In flight (SQS, approximate)", String(q.in_flight), "in_flight"],
    ["Delayed (SQS, approximate)", String(q.delayed), "delayed"],
    ["Oldest message in flight here, sent", oldest, "oldest_in_flight"],
    ["Latency, event to searchable (p50 / p95)", q.latency_p50_seconds || q.latency_p95_seconds ? `${fmtSeconds(q.latency_p50_seconds)} / ${fmtSeconds(q.latency_p95_seconds)}` : "—", "latency"],
    ["Last error", q.last_error ? `${q.last_error}${q.last_error_at ? ` (at ${fmtTime(q.last_error_at)})` : ""}` : "none", "last_error"],
  ]));
}

async function toggle(c) {
  await api("POST", `/api/v1/connectors/${c.id}/${c.enabled ? "disable" : "enable"}`);
  loadConnectors();
}

function confirmDialog(text) {
  return new Promise((resolve) => {
    const d = $("#confirm-dialog");
    $("#confirm-text").textContent = text;
    const done = (v) => { d.close(); resolve(v); };
    $("#confirm-yes").onclick = () => done(true);
    $("#confirm-no").onclick = () => done(false);
    d.oncancel = () => resolve(false);
    d.showModal();
    $("#confirm-no").focus();
  });
}

async function removeConnector(c) {
  if (!(await confirmDialog(`Delete connector ${c.name}? Its records stay searchable; its checkpoints are removed.`))) return;
  try { await api("DELETE", `/api/v1/connectors/${c.id}`); } catch (e) { alert(e.message); }
  loadConnectors();
}

// ---------- wizard ----------
function fillRegions() {
  for (const sel of [$("#f-region"), $("#f-queue-region")]) {
    for (const r of (state.meta && state.meta.regions) || []) sel.append(el("option", { value: r }, r));
  }
}

const F = (name) => $(`#wizard-form [name="${name}"]`);

async function openWizard(c) {
  // An edit starts from the connector as it is now, and saves against the
  // version it loaded (If-Match), so a concurrent edit is reported, never
  // overwritten.
  state.editingETag = null;
  if (c) {
    try {
      const cur = await api("GET", `/api/v1/connectors/${c.id}`);
      c = cur.data;
      state.editingETag = cur.headers.get("ETag");
    } catch (e) {
      alert(`Cannot edit ${c.name}: ${e.message}`);
      return;
    }
  }
  state.editing = c || null;
  const form = $("#wizard-form");
  form.reset();
  $$(".error", form).forEach((e) => { e.textContent = ""; });
  $("#wizard-title").textContent = c ? `Edit connector ${c.name}` : "New connector";
  for (const name of ["name", "tenant", "run_on"]) F(name).readOnly = !!c;
  if (!c && !state.me.root) F("tenant").value = state.me.tenant;
  if (c) {
    for (const k of ["name", "tenant", "run_on", "sub_type", "file_type", "bucket", "prefix", "credentials", "access_key_id", "role_arn", "external_id", "sts_endpoint", "endpoint", "proxy_uri", "region"]) {
      if (F(k)) F(k).value = c[k] || "";
    }
    if (!c.credentials) F("credentials").value = c.access_key_id ? "keys" : "ambient";
    F("path_style").checked = !!c.path_style;
    F("secret_access_key").value = "";
    F("secret_access_key").placeholder = c.secret_access_key ? "unchanged (stored)" : "";
    F("filters").value = (c.filters || []).map((f) => `${f.action}: ${f.query}`).join("\n");
    F("regions").value = (c.regions || []).join(", ");
    // The queue's stored values (defaults included, as the API filled them).
    F("queue_url").value = c.queue_url || "";
    selectValue(F("queue_region"), c.queue_region || "");
    F("queue_endpoint").value = c.queue_endpoint || "";
    F("queue_receivers").value = c.queue_receivers ? String(c.queue_receivers) : "";
    F("queue_visibility").value = c.queue_visibility && c.queue_visibility !== "0s" ? c.queue_visibility : "";
    F("queue_ignored").value = c.queue_ignored === "keep" ? "keep" : "delete";
  } else {
    F("secret_access_key").placeholder = "";
  }
  // The queue's group is optional: open when the connector has a queue.
  $("#queue-group").open = !!(c && c.queue_url);
  if (!c) F("credentials").value = "role";
  credentialsChanged();
  setStep(1);
  $("#wizard").showModal();
  (c ? F("sub_type") : F("name")).focus();
}

function setStep(n) {
  state.step = n;
  $$("#wizard-form fieldset").forEach((f) => { f.hidden = Number(f.dataset.step) !== n; });
  $$(".steps li").forEach((li) => li.classList.toggle("current", Number(li.dataset.step) === n));
  $$(".steps li").forEach((li) => li.toggleAttribute("aria-current", Number(li.dataset.step) === n));
  $("#wizard-back").disabled = n === 1;
  $("#wizard-next").hidden = n === 4;
  $("#wizard-submit").hidden = n !== 4;
  $("#wizard-error").textContent = "";
  if (n === 2) credentialsChanged();
  if (n === 3) renderPolicy();
  if (n === 4) renderConfirm();
}

// credentialsChanged shows the role's fields for a role only, and the
// tenant's generated external ID as the placeholder.
async function credentialsChanged() {
  const kind = F("credentials").value;
  $("#role-fields").hidden = kind !== "role";
  $('label[for="f-akid"]').textContent = kind === "role" ? "Access key ID (optional: keys to assume the role from)" : "Access key ID";
  if (kind !== "role") return;
  const tenant = F("tenant").value.trim() || (state.me && state.me.tenant) || "";
  if (!tenant) return;
  try {
    const r = await api("GET", `/api/v1/external-id?tenant=${encodeURIComponent(tenant)}`);
    F("external_id").placeholder = r.data.external_id;
  } catch (e) { /* shown again on save */ }
}

async function renderPolicy() {
  $("#queue-kms-field").hidden = !F("queue_url").value.trim();
  const out = $("#policy-json");
  out.textContent = "…";
  setFieldError("policy", "");
  try {
    const body = { ...formBody(), kms_key_arn: F("kms_key_arn").value.trim() };
    // The queue's KMS key goes only when given, and only with a queue.
    const queueKMS = F("queue_kms_key_arn").value.trim();
    if (body.queue_url && queueKMS) body.queue_kms_key_arn = queueKMS;
    const r = await api("POST", "/api/v1/policy", body);
    out.textContent = JSON.stringify(r.data, null, 2);
  } catch (e) {
    out.textContent = "";
    setFieldError("policy", e.message);
  }
}

function parseFilters(text) {
  const out = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const m = /^(drop|keep)\s*:\s*(.+)$/.exec(line);
    if (!m) throw new Error(`"${line}": write drop: QUERY or keep: QUERY`);
    out.push({ action: m[1], query: m[2] });
  }
  return out;
}

function formBody() {
  const b = {};
  for (const k of ["name", "tenant", "run_on", "sub_type", "file_type", "bucket", "prefix", "credentials", "access_key_id", "role_arn", "external_id", "sts_endpoint", "endpoint", "proxy_uri", "region"]) b[k] = F(k).value.trim();
  if (b.credentials !== "role") { b.role_arn = ""; b.external_id = ""; b.sts_endpoint = ""; }
  if (b.credentials === "ambient") b.access_key_id = "";
  b.path_style = F("path_style").checked;
  const secret = F("secret_access_key").value;
  if (secret) b.secret_access_key = secret;
  else if (state.editing && state.editing.secret_access_key) b.secret_access_key = "********";
  b.filters = parseFilters(F("filters").value);
  b.regions = F("regions").value.split(/[\s,]+/).filter(Boolean);
  Object.assign(b, queueBody());
  return b;
}

// queueBody is the connector's SQS queue settings. Without a Queue URL a
// new connector sends none of them (the API refuses queue settings
// without a queue), and an edit clears the stored ones. An empty field
// takes the API's default (receivers 2, visibility 5m, region from the
// URL, else the bucket's).
function queueBody() {
  const url = F("queue_url").value.trim();
  const q = url ? {
    queue_url: url,
    queue_region: F("queue_region").value,
    queue_endpoint: F("queue_endpoint").value.trim(),
    queue_receivers: F("queue_receivers").value.trim() === "" ? 0 : Number(F("queue_receivers").value),
    queue_visibility: F("queue_visibility").value.trim() || 0,
    queue_ignored: F("queue_ignored").value,
  } : state.editing ? { queue_url: "", queue_region: "", queue_endpoint: "", queue_receivers: 0, queue_visibility: 0, queue_ignored: "" } : {};
  // Polling's default follows the queue (5m without, 1h with, as a safety
  // net): an edit that adds or removes the queue of a connector polling at
  // the old default gets the new one (interval 0 is "default"); an interval
  // set to anything else is kept.
  const e = state.editing;
  if (e && !!e.queue_url !== !!url && e.interval === (e.queue_url ? "1h0m0s" : "5m0s")) q.interval = 0;
  return q;
}

// pollingInterval is how often the connector of body b will poll.
function pollingInterval(b) {
  if (b.interval === 0 || !state.editing) return b.queue_url ? "1h0m0s" : "5m0s";
  return state.editing.interval || "5m0s";
}

// queueURLRegion is the region in an AWS queue URL's host
// (sqs.REGION.amazonaws.com), as connector.QueueURLRegion reads it.
function queueURLRegion(raw) {
  let host;
  try { host = new URL(raw).hostname; } catch { return ""; }
  const parts = host.split(".");
  const known = (state.meta && state.meta.regions) || [];
  return parts.length >= 3 && parts[0] === "sqs" && known.includes(parts[1]) ? parts[1] : "";
}

// selectValue selects v, adding it as an option when the list lacks it
// (a stored value is shown as it is, never silently replaced).
function selectValue(sel, v) {
  if (v && ![...sel.options].some((o) => o.value === v)) sel.append(el("option", { value: v }, v));
  sel.value = v;
}

function setFieldError(field, msg) {
  const e = $(`#wizard-form [data-error="${field}"]`);
  if (e) e.textContent = msg || "";
  return !!e;
}

async function validateStep(n) {
  let ok = true;
  $$("#wizard-form [data-error]").forEach((e) => { e.textContent = ""; });
  if (n === 1) {
    if (!F("name").value.trim()) { $("#wizard-error").textContent = "Name is required."; ok = false; }
    else if (!/^[\x20-\x7e]+$/.test(F("name").value)) { $("#wizard-error").textContent = "Use printable ASCII characters only in the name."; ok = false; }
    if (!F("tenant").value.trim()) { $("#wizard-error").textContent = "Tenant is required."; ok = false; }
    try { parseFilters(F("filters").value); } catch (e) { setFieldError("filters", e.message); ok = false; }
  }
  if (n === 2) {
    ok = checkFileType() && ok;
    ok = (await checkPrefix()) && ok;
    if (!F("bucket").value.trim()) { setFieldError("bucket", "Bucket is required."); ok = false; }
    if (F("credentials").value === "role" && !F("role_arn").value.trim()) { setFieldError("role_arn", "The role to assume is required, e.g. arn:aws:iam::123456789012:role/TrawlLogReader."); ok = false; }
    ok = checkQueueInputs() && ok;
  }
  return ok;
}

// checkQueueInputs refuses what the API could not even read (a receiver
// count that is not a whole number, a duration it cannot parse); the
// API's own checks (ranges, URLs) come back as its problems, placed next
// to the fields on Submit.
function checkQueueInputs() {
  if (!F("queue_url").value.trim()) return true;
  let ok = true;
  const rec = F("queue_receivers");
  if (rec.validity.badInput || (rec.value.trim() !== "" && !/^\d+$/.test(rec.value.trim()))) {
    setFieldError("queue_receivers", "A whole number of receivers, 1 to 32 (empty: 2).");
    ok = false;
  }
  const vis = F("queue_visibility").value.trim();
  if (vis && !/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(vis)) {
    setFieldError("queue_visibility", `"${vis}" is not a duration: write e.g. 90s, 5m or 1h30m (empty: 5m).`);
    ok = false;
  }
  if (!ok) $("#queue-group").open = true;
  return ok;
}

function checkFileType() {
  const st = F("sub_type").value, ft = F("file_type").value;
  if (st !== "waf" && st !== "s3access" && ft !== "gzip") {
    setFieldError("file_type", `${st} logs are delivered gzip-compressed: use file type gzip (text is for WAF and S3 server access logs only).`);
    return false;
  }
  setFieldError("file_type", "");
  return true;
}

let prefixSeq = 0;
async function checkPrefix() {
  const seq = ++prefixSeq;
  const p = F("prefix").value;
  try {
    await api("GET", `/api/v1/validate/prefix?prefix=${encodeURIComponent(p)}&sub_type=${encodeURIComponent(F("sub_type").value)}`);
    if (seq === prefixSeq) setFieldError("prefix", "");
    return true;
  } catch (e) {
    if (seq === prefixSeq) setFieldError("prefix", e.message);
    return false;
  }
}

function renderConfirm() {
  const b = formBody();
  const rows = [["Category", "PaaS"], ["Type", "AWS CloudTrail"], ["Function", "Collect"], ["Name", b.name], ["Tenant", b.tenant],
    ["Run on", b.run_on || "this node"], ["Sub type", b.sub_type], ["File type", b.file_type], ["Bucket", b.bucket], ["Prefix", b.prefix],
    ["Bucket region", b.region || "(default)"], ["Log regions collected", b.regions.join(", ") || "every region"], ["Credentials", b.credentials], ...(b.credentials === "role" ? [["Role ARN", b.role_arn], ["External ID", b.external_id || F("external_id").placeholder || "(tenant's own)"]] : []),
    ["Access key ID", b.access_key_id || "—"],
    ["Secret access key", b.secret_access_key ? "********" : "—"], ["S3 endpoint", b.endpoint || "AWS"], ["Proxy", b.proxy_uri || "—"],
    ["Log filters", b.filters.map((f) => `${f.action}: ${f.query}`).join("; ") || "none"], ...queueRows(b)];
  $("#confirm tbody").replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", { scope: "row" }, k), el("td", {}, v))));
}

// queueRows are the review step's rows of the queue settings, with the
// defaults the API will fill in.
function queueRows(b) {
  const polling = pollingInterval(b);
  if (!b.queue_url) return [["SQS queue", "none"], ["Polling", `every ${polling}`]];
  const urlRegion = queueURLRegion(b.queue_url);
  const region = b.queue_region || (urlRegion ? `${urlRegion} (from the URL)` : b.region ? `${b.region} (the bucket's)` : "the bucket's region");
  return [["SQS queue", b.queue_url], ["Queue region", region], ["Queue endpoint", b.queue_endpoint || "AWS"],
    ["Receivers per node", b.queue_receivers ? String(b.queue_receivers) : "2 (default)"],
    ["Visibility timeout", b.queue_visibility || "5m (default)"],
    ["Messages announcing nothing", b.queue_ignored === "keep" ? "keep for the queue's redrive policy" : "delete"],
    ["Polling", `every ${polling} as a safety net`]];
}

async function submitWizard() {
  let body;
  try { body = formBody(); } catch (e) { $("#wizard-error").textContent = e.message; return; }
  try {
    if (state.editing) {
      await api("PUT", `/api/v1/connectors/${state.editing.id}`, { ...state.editing, ...body }, { "If-Match": state.editingETag });
    } else {
      await api("POST", "/api/v1/connectors", body);
    }
    $("#wizard").close();
    loadConnectors();
  } catch (e) {
    if (e.status === 412 || e.status === 409) {
      $("#wizard-error").textContent = `Not saved: ${state.editing ? state.editing.name : "the connector"} was changed by someone else after you opened it. Close this dialog and edit again to start from their version. (${e.message})`;
      return;
    }
    const probs = (e.body && e.body.problems) || [];
    let placed = false;
    for (const p of probs) placed = setFieldError(p.field.replace(/\[.*$/, ""), p.message) || placed;
    if (probs.some((p) => p.field.startsWith("queue_"))) $("#queue-group").open = true;
    $("#wizard-error").textContent = e.message;
    const first = probs.find((p) => ["name", "tenant", "run_on", "filters"].includes(p.field.replace(/\[.*$/, "")));
    if (placed || probs.length) setStep(first ? 1 : 2);
    $("#wizard-error").textContent = e.message;
  }
}

// ---------- test dialog ----------
async function runTest(c) {
  const d = $("#test-dialog");
  $("#test-title").textContent = `Connection test: ${c.name}`;
  $("#test-outcome").textContent = "Testing…";
  $("#test-outcome").className = "outcome";
  $("#test-summary").textContent = "";
  $("#test-detail").hidden = true;
  $("#test-detail").replaceChildren();
  $("#test-more").setAttribute("aria-expanded", "false");
  $("#test-more").textContent = "Show more";
  if (!d.open) d.showModal();
  let res;
  try {
    res = (await api("POST", `/api/v1/connectors/${c.id}/test`)).data;
  } catch (e) {
    $("#test-outcome").textContent = "Failure";
    $("#test-outcome").className = "outcome bad";
    $("#test-summary").textContent = e.status === 409 ? e.message : `${e.status}: ${e.message}`;
    return;
  }
  $("#test-outcome").textContent = res.ok ? "Success" : "Failure";
  $("#test-outcome").className = "outcome " + (res.ok ? "ok" : "bad");
  $("#test-summary").textContent = res.summary;
  const detail = $("#test-detail");
  detail.append(checksTable(res.checks));
  for (const a of res.accounts || []) {
    detail.append(el("h3", {}, `Account ${a.account}: ${a.ok ? "ok" : "failed"}`), checksTable(a.checks));
  }
  if (res.found) detail.append(foundTable(res.found));
  if (res.preview) {
    detail.append(el("h3", {}, "Sample record" + (res.object ? ` from ${res.object}` : "")), el("pre", {}, JSON.stringify(res.preview, null, 2)));
  }
  loadConnectors();
}

// foundTable shows what discovery found and what the connector leaves
// out, so a region or account that is not collected is never silent.
function foundTable(f) {
  const rows = [["Accounts", (f.accounts || []).join(", ") || "—"], ["Regions", (f.regions || []).join(", ") || "—"],
    ["Folders collected", `${f.folder_count}: ${(f.folders || []).slice(0, 10).join(", ")}${f.folder_count > 10 ? " …" : ""}`]];
  for (const e of f.excluded || []) rows.push(["Not collected", `${e.prefix}: ${e.reason}`]);
  if ((f.missing_regions || []).length) rows.push(["Listed regions with no folder", f.missing_regions.join(", ")]);
  return el("div", { class: "found" }, el("h3", {}, "What the connector collects"),
    el("table", { class: "checks" }, el("tbody", {}, rows.map(([k, v]) => el("tr", { class: k === "Not collected" ? "check-bad" : "" }, el("th", { scope: "row" }, k), el("td", {}, v))))));
}

function checksTable(checks) {
  return el("table", { class: "checks" },
    el("thead", {}, el("tr", {}, el("th", {}, "Check"), el("th", {}, "Result"), el("th", {}, "HTTP status"), el("th", {}, "Explanation"), el("th", {}, "Recommendation"))),
    el("tbody", {}, (checks || []).map((ch) => el("tr", {},
      el("td", {}, ch.name),
      el("td", { class: ch.skipped ? "check-skip" : ch.ok ? "check-ok" : "check-bad" }, ch.skipped ? "skipped" : ch.ok ? "passed" : "failed"),
      el("td", {}, ch.ok ? "—" : String(ch.status)),
      el("td", {}, ch.ok ? (ch.detail || "") : `${ch.explanation}${ch.detail ? " (" + ch.detail + ")" : ""}`),
      el("td", {}, ch.recommendation || "")))));
}

// ---------- quarantine ----------
async function loadQuarantine(id) {
  const c = state.connectors.find((x) => x.id === id) || (await api("GET", `/api/v1/connectors/${id}`)).data;
  $("#quarantine-title").textContent = `Quarantine: ${c.name}`;
  $("#quarantine-result").textContent = "";
  $("#quarantine-retry").onclick = async () => {
    const r = (await api("POST", `/api/v1/connectors/${id}/quarantine/retry`)).data;
    $("#quarantine-result").textContent = `${plural(r.resolved, "record")} now decode${r.resolved === 1 ? "s and was" : " and were"} stored; ${r.still_bad} still fail${r.still_bad === 1 ? "s" : ""}; ${plural(r.objects_requeued, "object")} will be read again at the next run.`;
    loadQuarantineRows(id);
  };
  loadQuarantineRows(id);
}

async function loadQuarantineRows(id) {
  const { data } = await api("GET", `/api/v1/quarantine?connector_id=${encodeURIComponent(id)}`);
  const rows = data.items.map((it) => el("tr", {},
    el("td", {}, fmtTime(it.created_at)), el("td", {}, el("code", {}, it.key)), el("td", {}, it.scope),
    el("td", {}, it.scope === "record" ? String(it.position) : `from record ${it.position}`), el("td", {}, it.reason),
    el("td", {}, el("code", {}, (it.raw || "").slice(0, 160)))));
  $("#quarantine tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "6" }, "Nothing is quarantined."))]));
}

// ---------- threat hunting ----------
const defaultColumns = {
  "": ["timestamp", "index", "msg_class", "tenant", "srcip", "user.name", "event_name", "action", "dstip", "dstport"],
  aws_events: ["timestamp", "msg_class", "cloud.account_id", "srcip", "user.name", "event_name", "event_source", "error_code", "action", "http.uri"],
  traffic: ["timestamp", "srcip", "srcport", "dstip", "dstport", "proto_name", "action", "bytes", "packets", "interface_id"],
};

let huntReady = false;
async function initHunt() {
  if (!huntReady) {
    huntReady = true;
    if (state.me.root) {
      $("#tenant-field").hidden = false;
      const { data } = await api("GET", "/api/v1/tenants");
      for (const t of data.tenants) $("#tenant").append(el("option", { value: t }, t));
    }
    loadSaved();
    const fields = (await api("GET", "/api/v1/fields")).data;
    state.fieldNames = [...new Set([...(fields.aws_events || []), ...(fields.traffic || [])].map((f) => f.name))].filter((n) => n !== "raw");
  }
  applyHuntURL();
  search();
}

// A hunt lives in the URL (#/hunt?q=&index=&tenant=&range= or from=&to=,
// &cols=), so a link reproduces it and back, forward and reload work.
// currentHunt is the hunt on screen: what a URL and a saved search hold.
function currentHunt() {
  const h = { query: $("#query").value, index: $("#index").value, tenant: $("#tenant").value, columns: state.hunt.columns };
  const r = timeRange();
  if ($("#range").value === "custom") { h.from = r.from; h.to = r.to; } else h.range = $("#range").value;
  return h;
}

// huntURL is a hunt as its URL, the one form every link to a hunt takes
// (the hunt on screen, a saved search, a pivot, an overview chart).
function huntURL(h) {
  const p = new URLSearchParams();
  if (h.query) p.set("q", h.query);
  if (h.index) p.set("index", h.index);
  if (h.tenant) p.set("tenant", h.tenant);
  if (h.from) { p.set("from", h.from); if (h.to) p.set("to", h.to); } else p.set("range", h.range || "-24h");
  if (h.columns && h.columns.length) p.set("cols", h.columns.join(","));
  return "#/hunt?" + p.toString();
}

function huntHash() { return huntURL(currentHunt()); }

// setRange shows a hunt's relative range in the select: 7d is the preset
// -7d (a duration back from now, as the API reads -7d), another duration
// gets an option of its own, and anything else falls back to the last 24
// hours rather than leave the select empty (which searched nothing).
function setRange(v) {
  let r = String(v || "-24h").trim();
  if (/^\d/.test(r)) r = "-" + r;
  const known = () => [...$("#range").options].some((o) => o.value === r);
  if (!known() && /^-(\d+d|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$/.test(r)) {
    $("#range").insertBefore(el("option", { value: r }, `Last ${r.slice(1)}`), $("#range option[value=custom]"));
  }
  $("#range").value = known() ? r : "-24h";
}

function applyHuntURL() {
  const h = location.hash;
  if (!h.includes("?")) {
    // The menu's link: the hunt on screen stays as it is.
    if (!state.hunt.columns) resetColumns();
    return;
  }
  const p = new URLSearchParams(h.includes("?") ? h.slice(h.indexOf("?") + 1) : "");
  $("#query").value = p.get("q") || "";
  $("#index").value = p.get("index") || "";
  if (p.get("tenant") && ![...$("#tenant").options].some((o) => o.value === p.get("tenant"))) $("#tenant").append(el("option", { value: p.get("tenant") }, p.get("tenant")));
  $("#tenant").value = p.get("tenant") || "";
  if (p.get("from")) {
    $("#range").value = "custom";
    $("#from").value = p.get("from").slice(0, 19);
    $("#to").value = (p.get("to") || "").slice(0, 19);
  } else {
    setRange(p.get("range"));
  }
  $("#abs-range").hidden = $("#range").value !== "custom";
  if (p.get("cols")) {
    state.hunt.columns = p.get("cols").split(",").filter(Boolean);
    renderColumnPicker();
  } else {
    resetColumns();
  }
}

// The hunt's URL follows each new search (a history entry, so back returns
// to the previous hunt); column changes replace the current entry.
function recordHunt(replace) {
  const h = huntHash();
  if (h === location.hash) return;
  if (replace) history.replaceState(null, "", h);
  else history.pushState(null, "", h);
}

function columnsKey() { return "trawl.columns." + ($("#index").value || "all"); }

function resetColumns() {
  // The user's choice is remembered per index.
  let saved = null;
  try { saved = JSON.parse(localStorage.getItem(columnsKey()) || "null"); } catch (e) { saved = null; }
  state.hunt.columns = Array.isArray(saved) && saved.length ? saved : [...defaultColumns[$("#index").value]];
  renderColumnPicker();
}

function columnsChanged() {
  try { localStorage.setItem(columnsKey(), JSON.stringify(state.hunt.columns)); } catch (e) { /* private mode */ }
  recordHunt(true);
  renderRows();
}

// ---------- overview ----------
const SVG = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const k of kids) e.append(k);
  return e;
}

function huntLink(query, index) {
  return huntURL({ query, index, tenant: $("#ov-tenant").value, range: "-24h" });
}

let ovReady = false;
// ---------- alerts ----------
let alertsReady = false;
let alertsSeq = 0;
// Which groups are expanded and which alerts selected survive a reload
// (a triage action reloads the list).
const alExpanded = new Set();
const alSelected = new Set();
async function loadAlerts() {
  if (!alertsReady) {
    alertsReady = true;
    if (state.me.root) {
      $("#al-tenant-field").hidden = false;
      const { data } = await api("GET", "/api/v1/tenants");
      for (const t of data.tenants) $("#al-tenant").append(el("option", { value: t }, t));
    }
    for (const id of ["#al-level", "#al-rule", "#al-tenant", "#al-since", "#al-status"]) $(id).addEventListener("change", loadAlerts);
    $("#al-ack").addEventListener("click", () => triage({ status: "acknowledged" }));
    $("#al-close").addEventListener("click", () => triage({ status: "closed", reason: $("#al-reason").value }));
    $("#al-reopen").addEventListener("click", () => triage({ status: "open" }));
    $("#al-assign").addEventListener("click", () => triage({ assignee: $("#al-assignee").value.trim() }));
    $("#al-add-note").addEventListener("click", () => { if ($("#al-note").value.trim()) triage({ note: $("#al-note").value }); });
  }
  const seq = ++alertsSeq;
  const p = new URLSearchParams({ since: $("#al-since").value });
  for (const [k, id] of [["level", "#al-level"], ["rule_id", "#al-rule"], ["tenant", "#al-tenant"], ["status", "#al-status"]]) if ($(id).value) p.set(k, $(id).value);
  const { data } = await api("GET", "/api/v1/alerts?" + p.toString());
  if (seq !== alertsSeq) return;
  const alerts = data.alerts || [];
  // The rule filter offers the rules seen, keeping the one chosen.
  const chosen = $("#al-rule").value;
  const rules = new Map([...$("#al-rule").options].filter((o) => o.value).map((o) => [o.value, o.textContent]));
  for (const a of alerts) rules.set(a.rule_id, a.rule);
  $("#al-rule").replaceChildren(el("option", { value: "" }, "All rules"),
    ...[...rules].sort((x, y) => x[1].localeCompare(y[1])).map(([id, title]) => el("option", { value: id }, title)));
  $("#al-rule").value = chosen;
  $("#alerts-empty").hidden = alerts.length > 0;
  loadFailedRules(seq);
  loadRules(seq);
  $("#alerts tbody").replaceChildren(...groupAlerts(alerts).flatMap(groupRows));
  updateSelected();
}

// groupAlerts groups alerts by tenant, rule and group (a count rule's
// group-by value), open groups first, then the most recent.
function groupAlerts(alerts) {
  const groups = new Map();
  for (const a of alerts) {
    const k = [a.tenant, a.rule_id, a.group || ""].join("\u0000");
    let g = groups.get(k);
    if (!g) groups.set(k, g = { key: k, tenant: a.tenant, rule_id: a.rule_id, rule: a.rule, level: a.level, group: a.group, query: a.query, alerts: [], records: 0, first: a.window_start, last: a.window_end });
    g.alerts.push(a);
    g.records += a.count;
    if (new Date(a.window_start) < new Date(g.first)) g.first = a.window_start;
    if (new Date(a.window_end) > new Date(g.last)) g.last = a.window_end;
  }
  const rank = (g) => g.alerts.some((a) => a.status === "open") ? 0 : g.alerts.some((a) => a.status === "acknowledged") ? 1 : 2;
  return [...groups.values()].sort((x, y) => rank(x) - rank(y) || new Date(y.last) - new Date(x.last));
}

function statusText(a) { return a.status + (a.close_reason ? ` (${a.close_reason})` : ""); }

function statusSummary(g) {
  const n = {};
  for (const a of g.alerts) n[a.status] = (n[a.status] || 0) + 1;
  return ["open", "acknowledged", "closed"].filter((s) => n[s]).map((s) => `${n[s]} ${s}`).join(", ");
}

// groupRows is a group's row, then its alerts' rows (hidden until the
// group is expanded).
function groupRows(g) {
  const title = `${g.rule}${g.group ? " " + g.group : ""}`;
  const assignees = [...new Set(g.alerts.map((a) => a.assignee).filter((x) => x))].join(", ");
  const hunt = huntURL({ query: g.query, index: "", tenant: g.tenant, from: g.first, to: g.last });
  const alertRows = g.alerts.map((a) => alertRow(a, g));
  const toggle = el("button", { type: "button", class: "al-toggle", "aria-expanded": "false", "aria-label": `Show the ${plural(g.alerts.length, "alert")} of ${title}` });
  const expand = (open) => {
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = (open ? "▾ " : "▸ ") + plural(g.alerts.length, "window");
    for (const r of alertRows) r.hidden = !open;
    if (open) alExpanded.add(g.key); else alExpanded.delete(g.key);
  };
  toggle.addEventListener("click", () => expand(toggle.getAttribute("aria-expanded") !== "true"));
  expand(alExpanded.has(g.key));
  const box = el("input", { type: "checkbox", class: "al-group-box", "aria-label": `Select the ${plural(g.alerts.length, "alert")} of ${title}` });
  box.checked = g.alerts.every((a) => alSelected.has(a.id));
  box.addEventListener("change", () => {
    for (const r of alertRows) r.querySelector("input").checked = box.checked;
    updateSelected();
  });
  const row = el("tr", { class: "al-group", "data-rule": g.rule_id, "data-group": g.group || "", "data-tenant": g.tenant },
    el("td", {}, box),
    el("td", { class: "nowrap" }, toggle, " ", fmtTime(g.first), " – ", fmtTime(g.last)),
    el("td", {}, el("span", { class: "level-" + g.level }, g.level)),
    el("td", {}, g.rule),
    el("td", {}, g.tenant),
    el("td", {}, g.group || "—"),
    el("td", {}, String(g.records)),
    el("td", { class: "al-status" }, statusSummary(g)),
    el("td", {}, assignees || "—"),
    el("td", {}, el("a", { href: hunt, "aria-label": `Open the hunt of ${g.rule} from ${fmtTime(g.first)} to ${fmtTime(g.last)}` }, "Open hunt")));
  return [row, ...alertRows];
}

function alertRow(a, g) {
  const hunt = huntURL({ query: a.query, index: "", tenant: a.tenant, from: a.window_start, to: a.window_end });
  const box = el("input", { type: "checkbox", class: "al-box", value: a.id, "aria-label": `Select the alert of ${a.rule} at ${fmtTime(a.window_start)}` });
  box.checked = alSelected.has(a.id);
  box.addEventListener("change", updateSelected);
  const notes = (a.notes || []).map((n) => el("li", {}, `${n.author}, ${fmtTime(n.at)}: ${n.text}`));
  return el("tr", { class: "al-alert", hidden: true, "data-id": a.id, "data-rule": a.rule_id, "data-status": a.status },
    el("td", {}, box),
    el("td", { class: "nowrap" }, fmtTime(a.window_start)),
    el("td", {}, el("span", { class: "level-" + a.level }, a.level)),
    el("td", {}, a.rule),
    el("td", {}, a.tenant),
    el("td", {}, a.group || "—"),
    el("td", {}, String(a.count)),
    el("td", { class: "al-status" }, statusText(a), notes.length ? el("details", {}, el("summary", {}, plural(notes.length, "note")), el("ul", {}, notes)) : null),
    el("td", {}, a.assignee || "—"),
    el("td", {}, el("a", { href: hunt, "aria-label": `Open the hunt of ${a.rule} at ${fmtTime(a.window_start)}` }, "Open hunt")));
}

function selectedAlerts() { return [...document.querySelectorAll("#alerts .al-box:checked")].map((b) => b.value); }

function updateSelected() {
  alSelected.clear();
  for (const id of selectedAlerts()) alSelected.add(id);
  const n = alSelected.size;
  $("#al-selected").textContent = `${n} selected`;
  for (const id of ["#al-ack", "#al-close", "#al-reopen", "#al-assign", "#al-add-note"]) $(id).disabled = n === 0;
}

// triage applies one change to every selected alert, one request each
// (the server checks each against the token's tenant), then reloads.
async function triage(change) {
  const ids = selectedAlerts();
  const failed = [];
  for (const id of ids) {
    try { await api("PATCH", `/api/v1/alerts/${encodeURIComponent(id)}`, change); } catch (e) { failed.push(e.message); }
  }
  if (change.note) $("#al-note").value = "";
  $("#al-action-msg").textContent = failed.length ? `${failed.length} of ${ids.length} not changed: ${failed[0]}` : `${plural(ids.length, "alert")} updated`;
  await loadAlerts();
}

// loadRules lists the chosen tenant's rules (a tenant token: its own),
// each with its exceptions and a button that runs it over past data.
async function loadRules(seq) {
  const tenant = $("#al-tenant").value;
  if (state.me.root && !tenant) {
    $("#al-rules-hint").textContent = "Choose a tenant to run its rules over past data and see their exceptions.";
    $("#al-rules tbody").replaceChildren();
    return;
  }
  $("#al-rules-hint").textContent = "Run a rule over past data (its alerts are stored once, however often it runs), and see the exceptions made to it.";
  const q = tenant ? "?tenant=" + encodeURIComponent(tenant) : "";
  let rules = [];
  try { rules = (await api("GET", "/api/v1/rules" + q)).data.rules || []; } catch (e) { /* shown as none */ }
  if (seq !== alertsSeq) return;
  $("#al-rules tbody").replaceChildren(...rules.map((r) => el("tr", { "data-rule": r.id },
    el("td", {}, el("strong", {}, r.id), " ", r.title),
    el("td", {}, el("span", { class: "level-" + r.level }, r.level)),
    el("td", {}, r.enabled ? "yes" : "no"),
    el("td", {}, (r.exceptions || []).length ? el("ul", {}, (r.exceptions || []).map((e) => el("li", { "data-exception": e.id }, `${e.query} (${e.reason}; ${e.author}, ${fmtTime(e.created_at)})`))) : "—"),
    el("td", {}, el("button", { type: "button", onclick: () => runRule(r, tenant), "aria-label": `Run ${r.id} over past data` }, "Run")))));
}

// runRule runs a rule over the chosen period a day at a time, showing
// progress, then shows its alerts.
async function runRule(r, tenant) {
  const days = { "-24h": 1, "-7d": 7, "-30d": 30 }[$("#al-run-since").value];
  const end = new Date();
  let found = 0, added = 0;
  try {
    for (let i = days; i > 0; i--) {
      const from = new Date(end.getTime() - i * 86400e3), to = new Date(end.getTime() - (i - 1) * 86400e3);
      const run = (await api("POST", `/api/v1/rules/${encodeURIComponent(r.id)}/run`, { tenant: tenant || r.tenant, from: from.toISOString(), to: to.toISOString() })).data;
      found += run.found; added += run.alerts;
      $("#al-run-msg").textContent = `${r.id}: ${days - i + 1} of ${plural(days, "day")}, ${plural(found, "alert")} (${added} new)`;
    }
    $("#al-run-msg").textContent = `${r.id} ran over ${plural(days, "day")}: ${plural(found, "alert")}, ${added} new`;
  } catch (e) {
    $("#al-run-msg").textContent = `${r.id}: ${e.message}`;
  }
  await loadAlerts();
}

// The rules whose evaluation failed (skipped until fixed), with why: of
// the tenant chosen, or every tenant's for root.
async function loadFailedRules(seq) {
  let tenants = [$("#al-tenant").value];
  if (state.me.root && !tenants[0]) tenants = [...$("#al-tenant").options].map((o) => o.value).filter((t) => t);
  const failed = [];
  for (const t of tenants) {
    const q = t ? "?tenant=" + encodeURIComponent(t) : "";
    try {
      const { data } = await api("GET", "/api/v1/rules" + q);
      for (const r of data.rules || []) if (r.failed) failed.push(r);
    } catch (e) { /* a tenant's rules unreadable: the others still show */ }
  }
  if (seq !== alertsSeq) return;
  $("#al-failed").hidden = failed.length === 0;
  $("#al-failed ul").replaceChildren(...failed.map((r) => el("li", { "data-rule": r.id },
    el("strong", {}, r.id), ` (${r.tenant}, since ${fmtTime(r.failed_at)}): ${r.failed}`)));
}

async function loadOverview() {
  if (!ovReady) {
    ovReady = true;
    if (state.me.root) {
      $("#ov-tenant-field").hidden = false;
      const { data } = await api("GET", "/api/v1/tenants");
      for (const t of data.tenants) $("#ov-tenant").append(el("option", { value: t }, t));
      $("#ov-tenant").addEventListener("change", loadOverview);
    }
  }
  const q = $("#ov-tenant").value ? "?tenant=" + encodeURIComponent($("#ov-tenant").value) : "";
  const o = (await api("GET", "/api/v1/overview" + q)).data;
  $("#ov-connectors").replaceChildren(...(o.connectors || []).map((c) => hourChart(c, o)));
  $("#ov-tops").replaceChildren(...o.tops.map(topChart));
  await loadRetention();
}

// ---------- retention ----------
let retReady = false;
// loadRetention shows the retention that applies (the lake's default and
// the settings the token sees) and, the first time, readies the form: root
// sets any tenant's or the default, a tenant token its own.
async function loadRetention() {
  if (!retReady) {
    retReady = true;
    if (state.me.root) {
      const { data } = await api("GET", "/api/v1/tenants");
      for (const t of data.tenants) $("#ret-tenant").append(el("option", { value: t }, t));
    } else {
      $("#ret-tenant-field").hidden = true;
    }
    $("#ret-form").addEventListener("submit", setRetention);
  }
  const { data } = await api("GET", "/api/v1/retention");
  const index = (i) => ({ aws_events: "AWS Events", traffic: "Traffic" })[i] || "Every index";
  // Who set each setting: a tenant's token cannot change or remove what root set.
  const setBy = (s) => ({ root: "Root", tenant: "Tenant" })[s] || "";
  const rows = [el("tr", { "data-tenant": "" }, el("td", {}, "The lake's default"), el("td", {}, "Every index"), el("td", {}, data.default.retention), el("td", {}, "Root"))];
  for (const r of data.settings) {
    rows.push(el("tr", { "data-tenant": r.tenant, "data-index": r.index || "" }, el("td", {}, r.tenant), el("td", {}, index(r.index)), el("td", {}, r.retention), el("td", {}, setBy(r.set_by))));
  }
  $("#ret-table tbody").replaceChildren(...rows);
}

async function setRetention(ev) {
  ev.preventDefault();
  const tenant = state.me.root ? $("#ret-tenant").value : state.me.tenant;
  const body = { tenant, index: $("#ret-index").value, retention: $("#ret-value").value.trim() };
  $("#ret-status").textContent = "";
  try {
    await api("PUT", "/api/v1/retention", body);
    $("#ret-status").textContent = "Saved.";
    await loadRetention();
  } catch (e) {
    $("#ret-status").textContent = e.message;
  }
}

// hourChart is a connector's 24 hourly bars, each bar's count on hover.
function hourChart(c, o) {
  const w = 24 * 12, hgt = 60;
  const max = Math.max(1, ...c.buckets.map((b) => b.count));
  const total = c.buckets.reduce((n, b) => n + b.count, 0);
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${hgt + 14}`, role: "img", "aria-label": `${c.connector}: ${plural(total, "record")} in 24 hours` });
  const start = new Date(o.from).getTime();
  for (const b of c.buckets) {
    const i = Math.floor((new Date(b.start).getTime() - start) / 3600e3);
    if (i < 0 || i >= 24) continue;
    const bh = Math.max(1, Math.round(b.count / max * hgt));
    svg.append(svgEl("rect", { x: i * 12 + 1, y: hgt - bh, width: 10, height: bh, class: "ov-bar" }, svgEl("title", {}, `${plural(b.count, "record")}, ${fmtTime(b.start)}`)));
  }
  svg.append(svgEl("text", { x: 0, y: hgt + 12, class: "ov-tick" }, fmtTick(new Date(start), false)), svgEl("text", { x: w - 30, y: hgt + 12, class: "ov-tick" }, fmtTick(new Date(start + 23 * 3600e3), false)));
  return el("figure", { class: "ov-chart", "data-connector": c.connector },
    el("figcaption", {}, el("a", { href: huntLink(c.query, "") }, c.connector), " ", el("span", { class: "ov-total", "data-total": String(total) }, plural(total, "record"))), svg);
}

// topChart is horizontal bars of a field's top values, each a link to its hunt.
function topChart(t) {
  const max = Math.max(1, ...t.values.map((v) => v.count));
  const rowH = 18, w = 300;
  const svg = svgEl("svg", { viewBox: `0 0 ${w} ${Math.max(1, t.values.length) * rowH}`, role: "img", "aria-label": t.title });
  t.values.forEach((v, i) => {
    const bw = Math.max(1, Math.round(v.count / max * (w - 185))); // room for the count
    const link = svgEl("a", { href: huntLink(`${t.query} AND ${t.field}:${quoteValue(v.value)}`, t.index) },
      svgEl("rect", { x: 0, y: i * rowH, width: w, height: rowH, class: "ov-hit" }), // the whole row is the link
      svgEl("text", { x: 0, y: i * rowH + 13, class: "ov-label" }, String(v.value).slice(0, 22)),
      svgEl("rect", { x: 150, y: i * rowH + 3, width: bw, height: rowH - 6, class: "ov-bar" }),
      svgEl("text", { x: 152 + bw, y: i * rowH + 13, class: "ov-count" }, String(v.count)));
    link.setAttribute("data-value", String(v.value));
    link.setAttribute("data-count", String(v.count));
    svg.append(link);
  });
  return el("figure", { class: "ov-chart", "data-chart": t.field },
    el("figcaption", {}, el("a", { href: huntLink(t.query, t.index) }, t.title)), t.values.length ? svg : el("p", { class: "hint" }, "nothing in the last 24 hours"));
}

// ---------- saved searches ----------
async function loadSaved() {
  const { data } = await api("GET", "/api/v1/searches");
  state.saved = data.searches;
  $("#saved").replaceChildren(el("option", { value: "" }, data.searches.length ? "Choose…" : "none yet"),
    ...data.searches.map((s) => el("option", { value: s.id }, state.me.root && s.tenant ? `${s.name} (${s.tenant})` : s.name)));
}

// savedHash is a saved search as a hunt URL: opening it is following it.
function savedHash(s) {
  return huntURL({ ...s, tenant: state.me.root ? s.tenant : "" });
}

async function saveSearch() {
  const name = $("#save-name").value.trim();
  const body = { name, ...currentHunt() };
  try {
    await api("POST", "/api/v1/searches", body);
    $("#save-status").textContent = `Saved “${name}”.`;
    $("#save-name").value = "";
    await loadSaved();
  } catch (e) {
    $("#save-status").textContent = e.message;
  }
}

function chosenSaved() { return (state.saved || []).find((s) => s.id === $("#saved").value); }

// exportResult downloads the whole result (the API streams it; the
// token is a header, so the file is fetched, then saved).
async function exportResult(format) {
  const p = params({ format });
  if (format === "csv") p.set("columns", state.hunt.columns.join(","));
  p.delete("limit");
  $("#export-status").textContent = "Exporting…";
  const resp = await fetch("/api/v1/export?" + p.toString(), { headers: { Authorization: "Bearer " + state.token } });
  if (!resp.ok) {
    $("#export-status").textContent = `Export failed: ${resp.status}`;
    return;
  }
  const blob = await resp.blob();
  const a = el("a", { href: URL.createObjectURL(blob), download: `trawl-export.${format}` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  $("#export-status").textContent = "";
}

function renderColumnPicker() {
  const list = $("#column-list");
  list.replaceChildren(...(state.fieldNames || []).map((n) => el("label", {},
    el("input", { type: "checkbox", value: n, checked: state.hunt.columns.includes(n), onchange: (e) => {
      if (e.target.checked) state.hunt.columns.push(n);
      else state.hunt.columns = state.hunt.columns.filter((c) => c !== n);
      columnsChanged();
    } }), n)));
}

function timeRange() {
  if ($("#range").value === "custom") {
    // datetime-local drops ":00" seconds; read the values as UTC.
    const iso = (v) => (v ? new Date(v + "Z").toISOString() : "");
    return { from: iso($("#from").value) || "-24h", to: iso($("#to").value) };
  }
  return { from: $("#range").value, to: "" };
}

function params(extra = {}) {
  const p = new URLSearchParams();
  if ($("#index").value) p.set("index", $("#index").value);
  if ($("#tenant").value) p.set("tenant", $("#tenant").value);
  const r = timeRange();
  p.set("from", r.from);
  if (r.to) p.set("to", r.to);
  p.set("q", $("#query").value);
  for (const [k, v] of Object.entries(extra)) p.set(k, v);
  return p;
}

function showQueryError(e) {
  const q = $("#query").value;
  if (e.body && typeof e.body.position === "number") {
    const pos = e.body.position;
    $("#query-error").replaceChildren(el("span", {}, e.message), el("br"), el("code", {}, q), el("br"), el("code", {}, " ".repeat(pos) + "^"));
    $("#query").setAttribute("aria-invalid", "true");
    $("#query").focus();
    $("#query").setSelectionRange(pos, Math.min(q.length, pos + 1));
  } else {
    $("#query-error").textContent = e.message;
  }
}

let searchSeq = 0;
async function search(append = false) {
  const seq = ++searchSeq; // a newer search makes this one's results stale
  $("#query-error").textContent = "";
  $("#query").removeAttribute("aria-invalid");
  const extra = { limit: "100" };
  if (append && state.hunt.next) extra.cursor = JSON.stringify(state.hunt.next);
  // aria-busy says a search is in flight (assistive technology waits for
  // it, and so do the browser tests).
  const results = $("#hunt-view .results");
  results.setAttribute("aria-busy", "true");
  let res;
  try {
    res = (await api("GET", "/api/v1/search?" + params(extra))).data;
  } catch (e) {
    if (seq === searchSeq) { showQueryError(e); results.setAttribute("aria-busy", "false"); }
    return;
  }
  if (seq !== searchSeq) return;
  if (!append) recordHunt(false);
  state.hunt.rows = append ? state.hunt.rows.concat(res.rows) : res.rows;
  if (!append) renderFields();
  state.hunt.next = res.next || null;
  $("#more").hidden = !res.next;
  renderRows();
  if (!append) {
    const [count, hist] = await Promise.all([api("GET", "/api/v1/count?" + params()), api("GET", "/api/v1/histogram?" + params())]);
    if (seq !== searchSeq) return;
    $("#result-count").textContent = `${count.data.count} matching records`;
    renderHistogram(hist.data);
  }
  if (seq === searchSeq) results.setAttribute("aria-busy", "false");
}

// fmtTick is a histogram label in the chosen time zone: the time of day,
// with the date when the range spans days.
function fmtTick(d, withDate) {
  const local = $("#tz").value === "local";
  const pad = (n) => String(n).padStart(2, "0");
  const [Y, M, D, h, m] = local ? [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes()]
    : [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()];
  return (withDate ? `${Y}-${pad(M)}-${pad(D)} ` : "") + `${pad(h)}:${pad(m)}`;
}

function renderHistogram(h) {
  state.hunt.hist = h;
  const box = $("#histogram");
  const max = Math.max(1, ...h.buckets.map((b) => b.count));
  const tz = $("#tz").value === "local" ? "local time" : "UTC";
  const span = h.buckets.length ? new Date(h.buckets[h.buckets.length - 1].start) - new Date(h.buckets[0].start) : 0;
  const withDate = span >= 24 * 3600e3;
  box.replaceChildren(...h.buckets.map((b, i) => {
    const start = new Date(b.start);
    const end = new Date(start.getTime() + h.interval_seconds * 1000);
    const label = `${plural(b.count, "record")} from ${fmtTick(start, true)} to ${fmtTick(end, true)} (${tz})`;
    const btn = el("button", { type: "button", title: label, "aria-label": label, "data-start": b.start, "data-i": String(i), "data-count": String(b.count) });
    // Click zooms into one bar; a drag across bars selects their range.
    btn.addEventListener("mousedown", (e) => { e.preventDefault(); state.hunt.drag = i; markDrag(i, i); });
    btn.addEventListener("mouseenter", () => { if (state.hunt.drag != null) markDrag(state.hunt.drag, i); });
    btn.addEventListener("mouseup", () => {
      const a = state.hunt.drag ?? i;
      state.hunt.drag = null;
      zoomBars(h, a, i);
    });
    // Keyboard: arrows move between bars, Shift+arrows extend a range from
    // where it started, Enter or Space zooms to the range (or the bar).
    btn.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        e.preventDefault();
        const j = Math.max(0, Math.min(h.buckets.length - 1, i + (e.key === "ArrowRight" ? 1 : -1)));
        if (e.shiftKey) { state.hunt.anchor = state.hunt.anchor ?? i; markDrag(state.hunt.anchor, j); } else { state.hunt.anchor = null; markDrag(j, j); }
        $$("#histogram button")[j].focus();
      } else if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        const a = state.hunt.anchor ?? i;
        state.hunt.anchor = null;
        zoomBars(h, a, i);
      }
    });
    return btn;
  }));
  // Heights are set through the CSSOM: the CSP forbids inline style attributes.
  $$("button", box).forEach((btn, i) => { btn.style.height = Math.max(1, Math.round((h.buckets[i].count / max) * 100)) + "%"; });
  // Five ticks along the axis, at the starts of evenly spaced bars.
  const n = h.buckets.length;
  const ticks = n ? [...new Set([0, Math.floor(n / 4), Math.floor(n / 2), Math.floor(3 * n / 4), n - 1])] : [];
  $("#histogram-axis").replaceChildren(...ticks.map((i) => {
    const t = el("span", { class: "tick", "data-i": String(i) }, fmtTick(new Date(h.buckets[i].start), withDate));
    return t;
  }));
  $$("#histogram-axis .tick").forEach((t) => { t.style.left = ((Number(t.dataset.i) + 0.5) / n * 100) + "%"; });
}

// zoomBars zooms to the time the bars from a to b (either order) cover.
function zoomBars(h, a, b) {
  const lo = Math.min(a, b), hi = Math.max(a, b);
  zoom(h.buckets[lo].start, new Date(new Date(h.buckets[hi].start).getTime() + h.interval_seconds * 1000));
}

function markDrag(a, b) {
  const lo = Math.min(a, b), hi = Math.max(a, b);
  $$("#histogram button").forEach((btn, i) => btn.classList.toggle("selected", i >= lo && i <= hi));
}

function toLocalInput(d) {
  return new Date(d).toISOString().slice(0, 19);
}

function zoom(start, end) {
  $("#range").value = "custom";
  $("#abs-range").hidden = false;
  $("#from").value = toLocalInput(start);
  $("#to").value = toLocalInput(end);
  search();
}

// The field sidebar: the fields present in the results, each opening to
// its top five values and counts over the whole result (the API's top-N,
// not the page), with a click to filter for or against a value.
function renderFields() {
  const present = new Set();
  for (const r of state.hunt.rows) for (const k of Object.keys(r)) if (k !== "raw" && k !== "id") present.add(k);
  const names = [...present].sort();
  $("#field-list").replaceChildren(...names.map((f) => {
    const d = el("details", { class: "field-top", "data-field": f }, el("summary", {}, f), el("div", { class: "top-values" }));
    d.addEventListener("toggle", () => { if (d.open) loadTop(d, f); });
    return d;
  }));
}

async function loadTop(d, field) {
  const box = d.querySelector(".top-values");
  box.textContent = "…";
  let res;
  try {
    res = (await api("GET", "/api/v1/top?" + params({ field, n: "5" }))).data;
  } catch (e) {
    box.textContent = e.message;
    return;
  }
  const values = res.values || [];
  box.replaceChildren(...(values.length ? values.map((v) => el("div", { class: "top-value" },
    el("span", { class: "top-name" }, cellText(v.value)), el("span", { class: "top-count" }, String(v.count)),
    el("button", { type: "button", "aria-label": `Filter for ${field} = ${cellText(v.value)}`, onclick: () => addFilter(field, v.value, false) }, "+"),
    el("button", { type: "button", "aria-label": `Filter out ${field} = ${cellText(v.value)}`, onclick: () => addFilter(field, v.value, true) }, "−")))
    : [el("span", {}, "no values")]));
}

function renderRows() {
  const cols = state.hunt.columns;
  $("#results thead").replaceChildren(el("tr", {}, cols.map((c) => el("th", { scope: "col" }, c))));
  $("#results tbody").replaceChildren(...state.hunt.rows.map((r, i) => el("tr", {
    tabindex: "0", "data-id": r.id, "aria-selected": state.hunt.selected === r.id ? "true" : "false",
    onclick: () => showDetail(i),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); showDetail(i); } },
  }, cols.map((c) => el("td", { class: c === "timestamp" ? "nowrap" : null }, cellText(r[c]))))));
}

// quoteValue writes a value for field:value exactly as query.Quote does
// (internal/query/format.go): a plain word as it is, anything else as a
// quoted phrase with \ and " escaped (JSON.stringify would also escape
// control characters, which the query language reads literally).
function quoteValue(v) {
  const s = String(v);
  return /^[A-Za-z0-9_.-]+$/.test(s) ? s : '"' + s.replace(/[\\"]/g, (c) => "\\" + c) + '"';
}

function addFilter(field, value, negate) {
  const term = `${negate ? "NOT " : ""}${field}:${quoteValue(value)}`;
  const q = $("#query").value.trim();
  $("#query").value = q ? `${q} AND ${term}` : term;
  search();
}

// pivots are one-click hunts for the records that share this one's user,
// source IP or access key within an hour either side of it.
function pivots(r) {
  const out = [];
  for (const [label, fields] of [["Same user", ["user.arn", "user.name"]], ["Same source IP", ["srcip"]], ["Same access key", ["user.access_key_id"]]]) {
    const f = fields.find((x) => r[x] !== undefined && r[x] !== "");
    if (!f) continue;
    out.push(el("button", { type: "button", "aria-label": `${label}: ${f} = ${r[f]}, one hour either side`, onclick: () => pivot(r, f) }, label));
  }
  return out.length ? [el("span", {}, "Pivot ±1 h: "), ...out] : [];
}

function pivot(r, field) {
  const t = new Date(r.timestamp).getTime();
  $("#detail").hidden = true;
  location.hash = huntURL({ query: `${field}:${quoteValue(r[field])}`, index: r.index, tenant: $("#tenant").value,
    from: new Date(t - 3600e3).toISOString(), to: new Date(t + 3600e3).toISOString(), columns: state.hunt.columns });
}

function showDetail(i) {
  const r = state.hunt.rows[i];
  state.hunt.selected = r.id;
  $$("#results tbody tr").forEach((tr) => tr.setAttribute("aria-selected", tr.dataset.id === r.id ? "true" : "false"));
  const rows = Object.keys(r).filter((k) => k !== "raw").sort().map((k) => el("tr", {},
    el("td", {}, k),
    el("td", {}, cellText(r[k]),
      typeof r[k] === "object" && !Array.isArray(r[k]) ? null : [
        el("button", { type: "button", title: `Filter for ${k}`, "aria-label": `Filter for ${k} = ${cellText(r[k])}`, onclick: () => addFilter(k, Array.isArray(r[k]) ? r[k][0] : r[k], false) }, "+"),
        el("button", { type: "button", title: `Filter out ${k}`, "aria-label": `Filter out ${k} = ${cellText(r[k])}`, onclick: () => addFilter(k, Array.isArray(r[k]) ? r[k][0] : r[k], true) }, "−")])));
  $("#detail-fields tbody").replaceChildren(...rows);
  $("#pivots").replaceChildren(...pivots(r));
  let raw = r.raw || "";
  try { raw = JSON.stringify(JSON.parse(raw), null, 2); } catch { /* a flow log line is not JSON */ }
  $("#raw").textContent = raw;
  $("#detail").hidden = false;
  $("#detail-close").focus();
}

// ---------- wiring ----------
function wire() {
  $("#signin").addEventListener("submit", async (e) => {
    e.preventDefault();
    state.token = $("#token").value.trim();
    state.me = null;
    try {
      await api("GET", "/api/v1/whoami");
      sessionStorage.setItem("trawl.token", state.token);
      $("#token").value = "";
      if (!location.hash || location.hash === "#/") location.hash = "#/connectors";
      route();
    } catch (err) {
      if (err.status !== 401) $("#signin-error").textContent = err.message;
    }
  });
  $("#signout").addEventListener("click", () => signOut());
  $("#new-connector").addEventListener("click", () => openWizard(null));
  $("#wizard-cancel").addEventListener("click", () => $("#wizard").close());
  $("#wizard-back").addEventListener("click", () => setStep(Math.max(1, state.step - 1)));
  $("#wizard-next").addEventListener("click", async () => { if (await validateStep(state.step)) setStep(state.step + 1); });
  $("#wizard-submit").addEventListener("click", submitWizard);
  F("prefix").addEventListener("input", () => checkPrefix());
  F("sub_type").addEventListener("change", () => {
    // Each sub type's default file type: S3 delivers server access logs
    // uncompressed, every other log gzip-compressed.
    F("file_type").value = F("sub_type").value === "s3access" ? "text" : "gzip";
    checkFileType(); checkPrefix();
  });
  F("file_type").addEventListener("change", checkFileType);
  F("credentials").addEventListener("change", credentialsChanged);
  $("#policy-refresh").addEventListener("click", renderPolicy);
  $("#test-close").addEventListener("click", () => $("#test-dialog").close());
  $("#test-more").addEventListener("click", () => {
    const d = $("#test-detail");
    d.hidden = !d.hidden;
    $("#test-more").setAttribute("aria-expanded", String(!d.hidden));
    $("#test-more").textContent = d.hidden ? "Show more" : "Show less";
  });
  $("#hunt-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });
  $("#range").addEventListener("change", () => {
    $("#abs-range").hidden = $("#range").value !== "custom";
    if ($("#range").value !== "custom") search();
  });
  $("#index").addEventListener("change", () => { resetColumns(); search(); });
  $("#tenant").addEventListener("change", () => search());
  $("#more").addEventListener("click", () => search(true));
  $("#tz").addEventListener("change", () => { if (state.hunt.hist) renderHistogram(state.hunt.hist); });
  document.addEventListener("mouseup", () => { state.hunt.drag = null; });
  $("#export-csv").addEventListener("click", () => exportResult("csv"));
  $("#save-search").addEventListener("click", saveSearch);
  $("#saved-open").addEventListener("click", () => { const s = chosenSaved(); if (s) location.hash = savedHash(s); });
  $("#saved-delete").addEventListener("click", async () => {
    const s = chosenSaved();
    if (!s || !(await confirmDialog(`Delete the saved search ${s.name}?`))) return;
    await api("DELETE", `/api/v1/searches/${s.id}`);
    await loadSaved();
    $("#save-status").textContent = `Deleted “${s.name}”.`;
  });
  $("#export-ndjson").addEventListener("click", () => exportResult("ndjson"));
  $("#detail-close").addEventListener("click", () => { $("#detail").hidden = true; state.hunt.selected = null; });
  window.addEventListener("hashchange", route);
}

wire();
route();
