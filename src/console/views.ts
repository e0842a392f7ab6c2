/** The console's pages as HTML strings (server-rendered, no inline script or style; escaped everywhere). */
import type { Identity } from '../identity/identity.js';
import { weekOf, WEEK_MS, type FrictionReport, type FrictionCounts, type MethodEnrollments } from '../reports/friction.js';
import { can, type Permission } from './roles.js';
import { deviceName } from '../ui/hosted/settings.js';
import { translator } from '../ui/i18n/catalogue.js';
import { CHECKLIST, type IdentityView } from './services.js';
import type { SearchHit, SearchMode } from './search.js';
import type { ConsoleApprovalRow } from './store.js';
import { CONSOLE_PREFIX, csrfField, escapeHtml as e, iso, messageBox, reasonField, type ConsoleShell } from './layout.js';

const P = CONSOLE_PREFIX;
/** The console speaks English (operators' tool); device names come from the hosted UI's catalogue. */
const EN = translator('en');

export interface Flash {
  kind: 'error' | 'info' | 'success';
  text: string;
  /** Shown once, after the text (a recovery code or link): never stored, never logged. */
  secret?: { label: string; value: string };
  /** Words for the operator to read to the user. */
  say?: string;
}

export function flashBox(flash: Flash | null): string {
  if (!flash) return '';
  const secret = flash.secret ? `<p>${e(flash.secret.label)}: <code class="secret" data-testid="console/secret">${e(flash.secret.value)}</code></p>` : '';
  const say = flash.say ? `<p class="say" data-testid="console/say"><strong>Say to the user:</strong> ${e(flash.say)}</p>` : '';
  return `<div class="msg ${flash.kind}" role="${flash.kind === 'error' ? 'alert' : 'status'}" data-testid="console/result"><span>${e(flash.text)}</span>${secret}${say}</div>`;
}

const identityLink = (id: string, label?: string) => `<a href="${P}/identities/${e(id)}">${e(label ?? id)}</a>`;

export function nameOf(identity: Identity): string {
  const t = identity.traits as Record<string, unknown>;
  if (typeof t.email === 'string') return t.email;
  if (typeof t.username === 'string') return t.username;
  return identity.id;
}

export function searchPage(input: { q: string; mode: SearchMode; hits: (SearchHit & { identity: Identity | null })[]; next: string | null; scanned: boolean; modes: SearchMode[] }): string {
  const options = input.modes.map((m) => `<option value="${m}"${m === input.mode ? ' selected' : ''}>${e({ any: 'Anything', identifier: 'Identifier (prefix)', address: 'Email or phone address', id: 'Identity id', trait: 'Trait (field=value)' }[m])}</option>`).join('');
  const rows = input.hits
    .map(
      (h) =>
        `<tr><td>${identityLink(h.identityId, h.identity ? nameOf(h.identity) : h.identityId)}</td><td>${e(h.matched)}</td><td class="hide-sm">${e(h.via)}</td><td>${h.identity ? `<span class="badge ${h.identity.state === 'active' ? 'on' : 'off'}">${e(h.identity.state)}</span>` : ''}</td></tr>`,
    )
    .join('');
  const table = input.q
    ? input.hits.length
      ? `<div class="scroll" tabindex="0" role="region" aria-label="Search results"><table data-testid="console/search-results"><caption class="muted">${input.hits.length} shown${input.scanned ? ' (trait search reads the traits of every identity; narrow it down)' : ''}</caption><thead><tr><th scope="col">Identity</th><th scope="col">Matched</th><th scope="col" class="hide-sm">By</th><th scope="col">State</th></tr></thead><tbody>${rows}</tbody></table></div>`
      : `<p data-testid="console/search-empty">No identity matches.</p>`
    : '';
  const next = input.next ? `<nav class="pager" aria-label="Pages"><a href="${P}/search?${new URLSearchParams({ q: input.q, mode: input.mode, after: input.next }).toString()}">Next page</a></nav>` : '';
  return `<h1>Find a user</h1><div class="card"><form class="inline" method="get" action="${P}/search" role="search"><div><label for="q">Email, identifier, address, id or trait</label><input type="text" id="q" name="q" value="${e(input.q)}" autocomplete="off" required></div><div><label for="mode">Search by</label><select id="mode" name="mode">${options}</select></div><button type="submit">Search</button></form></div>${input.q ? `<div class="card">${table}${next}</div>` : ''}`;
}

function dl(rows: [string, string][]): string {
  return `<dl class="details">${rows.map(([k, v]) => `<dt>${e(k)}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

function actionForm(id: string, path: string, title: string, body: string, csrf: string, button: string, testid: string, danger = false): string {
  return `<details class="action" data-testid="${testid}"><summary>${e(title)}</summary><form method="post" action="${P}/identities/${e(id)}/${path}">${csrfField(csrf)}${body}${reasonField(`${testid.replace(/\W/g, '-')}-reason`)}<button type="submit"${danger ? ' class="danger"' : ''}>${e(button)}</button></form></details>`;
}

function checklist(prefix: string): string {
  return `<fieldset><legend>Identity verification (tick what you checked)</legend>${Object.entries(CHECKLIST)
    .map(([key, label]) => `<label class="check"><input type="checkbox" name="checklist" value="${key}" id="${prefix}-${key}"><span>${e(label)}</span></label>`)
    .join('')}</fieldset>`;
}

const TIMELINE_TYPES = ['login.succeeded', 'login.failed', 'second_factor.rejected', 'second_factor.enrolled', 'second_factor.removed', 'lockout.started', 'lockout.cleared', 'recovery_codes.used', 'recovery.requested', 'recovery.completed', 'mfa_reset.requested', 'mfa_reset.completed', 'session.revoked', 'admin.action_performed'];

export function identityPage(input: {
  view: IdentityView;
  shell: ConsoleShell;
  flash: Flash | null;
  timeline: { id: string; type: string; actor: string | null; details: Record<string, unknown>; created_at: string }[];
  timelineTypes: string[];
  timelineNext: string | null;
  self: boolean;
}): string {
  const { view, shell } = input;
  const { identity } = view;
  const roles = shell.operator?.roles ?? [];
  const allowed = (p: Permission) => can(roles, p) && !input.self;
  const id = identity.id;
  const csrf = shell.csrf;
  const lock = view.lockout;
  const lockText = lock.state === 'none' ? `none (${lock.consecutive_failures} consecutive failures)` : lock.state === 'locked' ? `locked since ${iso(Date.parse(lock.locked_at!))} after ${lock.consecutive_failures} failures` : `delayed: next attempt allowed at ${iso(Date.parse(lock.retry_at!))} (${lock.consecutive_failures} failures)`;
  const addresses = [
    ...identity.verifiableAddresses.map((a) => `<li><span>${e(a.value)} <span class="muted">(${e(a.via)}, verification)</span></span><span class="badge ${a.verified ? 'on' : 'off'}">${a.verified ? 'verified' : 'not verified'}</span></li>`),
    ...identity.recoveryAddresses.map((a) => `<li><span>${e(a.value)} <span class="muted">(${e(a.via)}, recovery)</span></span></li>`),
    ...view.secondaryRecoveryAddresses.map((a) => `<li><span>${e(a.value)} <span class="muted">(added recovery address)</span></span><span class="badge ${a.verified ? 'on' : 'off'}">${a.verified ? 'verified' : 'not verified'}</span></li>`),
  ].join('');
  const factors = view.factors
    .map((f) => `<tr><th scope="row">${e(f.type)}</th><td>${iso(f.createdAtMs)}</td><td>${iso(f.lastUsedMs)}</td><td class="hide-sm">${e(f.detail)}</td></tr>`)
    .join('');
  const sessions = view.sessions
    .map((s) => `<tr><td>${e(s.aal)}</td><td title="${e((s.userAgent ?? '').slice(0, 300))}">${e(deviceName(EN, s.userAgent))}</td><td class="hide-sm">${e(s.ipAddress ?? '')}</td><td>${iso(s.lastActivityMs)}</td><td>${iso(s.expiresAtMs)}</td></tr>`)
    .join('');
  const resets = view.pendingResets.map((r) => `<li>requested ${iso(r.createdAtMs)}; completes when the user recovers after ${iso(r.notBeforeMs)}</li>`).join('');
  const approvals = view.approvals.map((a) => `<li>${e(a.action)} requested ${iso(a.created_at)} — <a href="${P}/approvals">waiting for a second operator</a></li>`).join('');
  const timeline = input.timeline
    .map((ev) => `<tr><td class="time">${e(ev.created_at.replace('T', ' ').slice(0, 19))}</td><td>${e(ev.type)}</td><td>${e(ev.actor ?? '')}</td><td class="hide-sm"><code>${e(JSON.stringify(ev.details)).slice(0, 300)}</code></td></tr>`)
    .join('');
  const filterBoxes = TIMELINE_TYPES.map((t) => `<label class="check"><input type="checkbox" name="types" value="${t}"${input.timelineTypes.includes(t) ? ' checked' : ''}><span>${e(t)}</span></label>`).join('');

  const actions: string[] = [];
  if (input.self) actions.push('<p class="muted">This is your own account: use self-service for it. Console actions on your own identity are refused.</p>');
  if (allowed('diagnose') && view.totp) {
    actions.push(actionForm(id, 'diagnose', 'Diagnose a code the user reads out', `<p class="help">The code is checked against the user's TOTP credential only to find out why it fails. It is never accepted as a sign-in and never logged.</p><label for="diag-code">Code the user reads</label><input class="code" type="text" id="diag-code" name="code" inputmode="numeric" autocomplete="off" required maxlength="10">`, csrf, 'Diagnose', 'console/action/diagnose'));
  }
  if (allowed('resync') && view.totp) {
    actions.push(actionForm(id, 'resync', 'Resynchronise a drifting device (two consecutive codes)', `<p class="help">For a token whose clock cannot be fixed: ask for one code, then the next one as soon as it changes. Both codes are used up.</p><label for="resync-1">First code</label><input class="code" type="text" id="resync-1" name="code1" inputmode="numeric" autocomplete="off" required maxlength="10"><label for="resync-2">Next code</label><input class="code" type="text" id="resync-2" name="code2" inputmode="numeric" autocomplete="off" required maxlength="10">`, csrf, 'Resynchronise', 'console/action/resync'));
  }
  if (allowed('unlock')) actions.push(actionForm(id, 'unlock', 'Unlock second factors', `<p class="help">Lifts the delay or the hard lock and resets the failure counter.</p>`, csrf, 'Unlock', 'console/action/unlock'));
  if (allowed('revoke_sessions')) actions.push(actionForm(id, 'sessions/revoke', 'Sign out everywhere (revoke all sessions)', '', csrf, 'Revoke all sessions', 'console/action/revoke', true));
  if (allowed('mfa_reset')) {
    actions.push(
      actionForm(
        id,
        'mfa-reset',
        'Start an MFA reset',
        `<p class="help">Removes the second factors and recovery codes; the user must set up a second factor again.${view.privileged ? ' <strong>This identity is privileged: a second operator must approve.</strong>' : ''}</p><fieldset><legend>When</legend><label class="check"><input type="radio" name="delay" value="yes" id="reset-delay" checked><span>After the waiting period (the user is notified and can cancel)</span></label><label class="check"><input type="radio" name="delay" value="no" id="reset-now"><span>Now</span></label></fieldset>${checklist('reset')}`,
        csrf,
        'Start MFA reset',
        'console/action/mfa-reset',
        true,
      ),
    );
  }
  if (allowed('recovery_issue')) {
    actions.push(actionForm(id, 'recovery', 'Issue a one-time recovery code or link', `<fieldset><legend>Kind</legend><label class="check"><input type="radio" name="kind" value="code" id="recovery-code" checked><span>Code (read it to the user)</span></label><label class="check"><input type="radio" name="kind" value="link" id="recovery-link"><span>Link</span></label></fieldset>${checklist('recovery')}`, csrf, 'Issue', 'console/action/recovery'));
  }
  if (allowed('deactivate')) {
    actions.push(
      identity.state === 'active'
        ? actionForm(id, 'deactivate', 'Deactivate the identity', '<p class="help">Signs the identity out everywhere; it cannot sign in until reactivated.</p>', csrf, 'Deactivate', 'console/action/deactivate', true)
        : actionForm(id, 'reactivate', 'Reactivate the identity', '', csrf, 'Reactivate', 'console/action/reactivate'),
    );
  }
  if (!input.self && actions.length === 0) actions.push('<p class="muted" data-testid="console/read-only">Your role can see this identity but not act on it.</p>');

  return `${flashBox(input.flash)}<h1>${e(nameOf(identity))}</h1><p class="lead"><code class="id">${e(id)}</code> · <span class="badge ${identity.state === 'active' ? 'on' : 'off'}" data-testid="console/state">${e(identity.state)}</span> · policy rule <strong data-testid="console/rule" title="${e(view.ruleSummary)}">${e(view.rule)}</strong> <span class="muted">(${e(view.ruleSummary)})</span>${view.privileged ? ' · <span class="badge warn">privileged</span>' : ''}</p>
<div class="grid"><section class="card" aria-labelledby="h-traits"><h2 id="h-traits">Traits</h2>${dl(Object.entries(identity.traits).map(([k, v]) => [k, e(typeof v === 'string' ? v : JSON.stringify(v))]))}${dl([['schema', e(identity.schemaId)], ['created', iso(identity.createdAtMs)], ['updated', iso(identity.updatedAtMs)]])}</section>
<section class="card" aria-labelledby="h-addr"><h2 id="h-addr">Addresses</h2><ul class="addresses">${addresses || '<li>none</li>'}</ul></section></div>
<section class="card" aria-labelledby="h-factors"><h2 id="h-factors">Credentials and factors</h2><div class="scroll" tabindex="0" role="region" aria-labelledby="h-factors"><table><thead><tr><th scope="col">Method</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col" class="hide-sm">Details</th></tr></thead><tbody>${factors || '<tr><td colspan="4">none</td></tr>'}</tbody></table></div>
${dl([
  ['Recovery codes', view.recoveryCodes ? `<span data-testid="console/recovery-codes">${view.recoveryCodes.remaining} of ${view.recoveryCodes.total} unused</span>` : 'none'],
  ['Lockout', `<span data-testid="console/lockout" data-state="${e(lock.state)}">${e(lockText)}</span>`],
  ['Pending MFA resets', resets ? `<ul>${resets}</ul>` : 'none'],
  ['Waiting for approval', approvals ? `<ul>${approvals}</ul>` : 'none'],
])}</section>
<section class="card" aria-labelledby="h-actions"><h2 id="h-actions">Actions</h2>${actions.join('')}</section>
<section class="card" aria-labelledby="h-sessions"><h2 id="h-sessions">Active sessions</h2><div class="scroll" tabindex="0" role="region" aria-labelledby="h-sessions"><table><thead><tr><th scope="col">AAL</th><th scope="col">Device</th><th scope="col" class="hide-sm">IP</th><th scope="col">Last activity</th><th scope="col">Expires</th></tr></thead><tbody>${sessions || '<tr><td colspan="5">none</td></tr>'}</tbody></table></div></section>
<section class="card" aria-labelledby="h-timeline"><h2 id="h-timeline">Audit timeline (newest first)</h2><details><summary>Filter by event</summary><form method="get" action="${P}/identities/${e(id)}">${filterBoxes}<button type="submit" class="small">Filter</button></form></details><div class="scroll" tabindex="0" role="region" aria-labelledby="h-timeline"><table data-testid="console/timeline"><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Event</th><th scope="col">Actor</th><th scope="col" class="hide-sm">Details</th></tr></thead><tbody>${timeline || '<tr><td colspan="4">no events</td></tr>'}</tbody></table></div>${input.timelineNext ? `<nav class="pager" aria-label="Timeline pages"><a href="${P}/identities/${e(id)}?${new URLSearchParams([...input.timelineTypes.map((t) => ['types', t]), ['after', input.timelineNext]]).toString()}">Older events</a></nav>` : ''}</section>`;
}

export function approvalsPage(input: { approvals: (ConsoleApprovalRow & { identity: Identity | null; requester: Identity | null })[]; shell: ConsoleShell; flash: Flash | null }): string {
  const { shell } = input;
  const mayDecide = can(shell.operator?.roles ?? [], 'approve');
  const items = input.approvals
    .map((a) => {
      const params = JSON.parse(a.params) as { delay: boolean; checklist: string[] };
      const own = a.requested_by === shell.operator?.id;
      const decide = mayDecide && !own && a.identity_id !== shell.operator?.id
        ? `<form method="post" action="${P}/approvals/${e(a.id)}">${csrfField(shell.csrf)}${reasonField(`approval-${a.id}-reason`)}<div class="actions"><button type="submit" name="decision" value="approve">Approve and reset</button><button type="submit" name="decision" value="reject" class="secondary">Reject</button></div></form>`
        : `<p class="muted">${own ? 'You asked for this: another operator must decide.' : 'Your role cannot decide.'}</p>`;
      return `<li class="card" data-testid="console/approval"><h2>MFA reset of ${a.identity ? identityLink(a.identity_id, nameOf(a.identity)) : e(a.identity_id)}</h2>${dl([
        ['Requested by', e(a.requester ? nameOf(a.requester) : a.requested_by)],
        ['Requested', iso(a.created_at)],
        ['Expires', iso(a.expires_at)],
        ['When', params.delay ? 'after the waiting period' : 'now'],
        ['Reason', e(a.reason)],
        ['Checked', e(params.checklist.map((c) => CHECKLIST[c as keyof typeof CHECKLIST] ?? c).join('; ') || 'nothing')],
      ])}${decide}</li>`;
    })
    .join('');
  return `${flashBox(input.flash)}<h1>Approvals (four eyes)</h1><p class="lead">MFA resets of privileged identities wait here until a second operator approves them.</p>${items ? `<ul class="factors">${items}</ul>` : '<p class="card" data-testid="console/no-approvals">Nothing is waiting for approval.</p>'}`;
}

/** A number summed over every method with an enrollment step (`enrollments.by_method`). */
function sumMethods(r: FrictionCounts, pick: (m: MethodEnrollments<object>) => number): number {
  return Object.values(r.enrollments.by_method).reduce((sum, m) => sum + pick(m), 0);
}

/** The numbers of the dashboard, each with a stable test id (and the same wording as the report). */
export function dashboardMetrics(t: FrictionCounts): [string, string, number][] {
  return [
    ['lockouts.delay', 'Delays after wrong codes', t.lockouts.delay],
    ['lockouts.locked', 'Hard locks', t.lockouts.locked],
    ['lockouts.identities', 'Identities locked out', t.lockouts.identities],
    ['enrollments.started', 'Enrollments started', t.enrollments.started],
    ['enrollments.finished', 'Enrollments finished', t.enrollments.finished],
    ['enrollments.failed', 'Failed enrollment submissions', t.enrollments.failed],
    ['enrollments.abandoned.before_code', 'Abandoned before a code', t.enrollments.abandoned.before_code],
    ['enrollments.abandoned.after_wrong_code', 'Abandoned after a wrong code', t.enrollments.abandoned.after_wrong_code],
    ['enrollments.abandoned.at_recovery_codes', 'Abandoned at the recovery codes', t.enrollments.abandoned.at_recovery_codes],
    ['enrollments.by_method.webauthn.started', 'Security key enrollments started', t.enrollments.by_method.webauthn.started],
    ['enrollments.by_method.webauthn.abandoned.before_answer', 'Security keys abandoned before the browser answered', t.enrollments.by_method.webauthn.abandoned.before_answer],
    ['enrollments.by_method.webauthn.abandoned.after_browser_error', "Security keys abandoned after the browser's refusal", t.enrollments.by_method.webauthn.abandoned.after_browser_error],
    ['enrollments.by_method.webauthn.abandoned.after_refused_key', 'Security keys abandoned after a refused key', t.enrollments.by_method.webauthn.abandoned.after_refused_key],
    ['enrollments.by_method.webauthn.abandoned.at_recovery_codes', 'Security keys abandoned at the recovery codes', t.enrollments.by_method.webauthn.abandoned.at_recovery_codes],
    ['enrollments.by_method.passkey.started', 'Passkey enrollments started', t.enrollments.by_method.passkey.started],
    ['enrollments.by_method.passkey.abandoned.before_answer', 'Passkeys abandoned before the browser answered', t.enrollments.by_method.passkey.abandoned.before_answer],
    ['enrollments.by_method.passkey.abandoned.after_browser_error', "Passkeys abandoned after the browser's refusal", t.enrollments.by_method.passkey.abandoned.after_browser_error],
    ['enrollments.by_method.passkey.abandoned.after_refused_key', 'Passkeys abandoned after a refused key', t.enrollments.by_method.passkey.abandoned.after_refused_key],
    ['recovery_codes.used', 'Recovery codes used', t.recovery_codes.used],
    ['recovery_codes.left_low', 'Uses that left few codes', t.recovery_codes.left_low],
    ['recovery_codes.rejected.already_used', 'Recovery codes rejected: already used', t.recovery_codes.rejected.already_used],
    ['recovery_codes.rejected.invalid', 'Recovery codes rejected: not valid', t.recovery_codes.rejected.invalid],
    ['recoveries.backup_code', 'Recoveries by backup code', t.recoveries.backup_code],
    ['recoveries.recovery_address', 'Recoveries by recovery address', t.recoveries.recovery_address],
    ['recoveries.helpdesk', 'Recoveries by the helpdesk', t.recoveries.helpdesk],
    ['mfa_resets.requested', 'MFA resets requested', t.mfa_resets.requested],
    ['helpdesk_actions.total', 'Helpdesk actions', Object.values(t.helpdesk_actions).reduce((a, v) => a + v, 0)],
    ['rejected_codes.total', 'Rejected codes', Object.values(t.rejected_codes).reduce((a, b) => a + b, 0)],
    ['policy.grace_reminders', 'Reminded during the grace period', t.policy.grace_reminders],
    ['policy.enrollments_enforced', 'Sign-ins sent to enrollment', t.policy.enrollments_enforced],
  ];
}

const PERIODS: [string, string][] = [
  ['4w', 'Last 4 weeks'],
  ['12w', 'Last 12 weeks'],
  ['26w', 'Last 26 weeks'],
  ['52w', 'Last 52 weeks'],
];

export function dashboardPage(input: { report: FrictionReport; period: string; population: Record<string, unknown>; names: Map<string, string> }): string {
  const { report } = input;
  // Every week of the period, weeks without events at zero (the time axis spans the period, not the events).
  const weeks: string[] = [];
  for (let ms = Date.parse(`${weekOf(Date.parse(report.since))}T00:00:00Z`); ms < Date.parse(report.until); ms += WEEK_MS) weeks.push(new Date(ms).toISOString().slice(0, 10));
  const sumWeek = (week: string, pick: (r: FrictionCounts) => number) => report.rows.filter((r) => r.week === week).reduce((a, r) => a + pick(r), 0);
  const xs = weeks.map((w) => Date.parse(`${w}T00:00:00Z`) / 1000);
  const chart = (id: string, title: string, series: [string, (r: FrictionCounts) => number][]) => {
    const data = { x: xs, series: series.map(([label, pick]) => ({ label, values: weeks.map((w) => sumWeek(w, pick)) })) };
    const table = `<table class="chart-table"><caption class="muted">${e(title)} per week</caption><thead><tr><th scope="col">Week of</th>${series.map(([label]) => `<th scope="col" class="num">${e(label)}</th>`).join('')}</tr></thead><tbody>${weeks.map((w, i) => `<tr><th scope="row">${e(w)}</th>${data.series.map((s) => `<td class="num">${s.values[i]}</td>`).join('')}</tr>`).join('') || `<tr><td colspan="${series.length + 1}">no data in this period</td></tr>`}</tbody></table>`;
    return `<section class="card" aria-labelledby="${id}-h"><h2 id="${id}-h">${e(title)}</h2><div class="chart" id="${id}" data-chart="${e(JSON.stringify(data))}" role="img" aria-label="${e(title)} per week; the table below has the numbers"></div><details><summary>Numbers</summary><div class="scroll" tabindex="0" role="region" aria-label="${e(title)} per week">${table}</div></details></section>`;
  };
  const stats = dashboardMetrics(report.totals)
    .map(([key, label, value]) => `<div class="card"><p class="stat" data-testid="console/metric/${key}">${value}</p><p class="stat-label">${e(label)}</p></div>`)
    .join('');
  const causes = Object.entries(report.totals.rejected_codes).sort(([, a], [, b]) => b - a);
  const actions = Object.entries(report.totals.helpdesk_actions).sort(([, a], [, b]) => b - a);
  const listTable = (title: string, rows: [string, string | number][], testid: string) =>
    `<section class="card"><h2>${e(title)}</h2>${rows.length ? `<table data-testid="${testid}"><tbody>${rows.map(([k, v]) => `<tr><th scope="row">${e(k)}</th><td class="num">${e(v)}</td></tr>`).join('')}</tbody></table>` : '<p class="muted">none</p>'}</section>`;
  const who = (ids: string[], testid: string, title: string, extra?: (id: string) => string) =>
    `<section class="card"><h2>${e(title)}</h2>${ids.length ? `<ul class="addresses" data-testid="${testid}">${ids.map((id) => `<li>${identityLink(id, input.names.get(id) ?? id)}${extra ? `<span class="muted">${e(extra(id))}</span>` : ''}</li>`).join('')}</ul>` : '<p class="muted">none</p>'}</section>`;
  const pop = input.population as { status?: string; identities?: number; median_offset_seconds?: number; message?: string };
  const periodOptions = PERIODS.map(([v, l]) => `<option value="${v}"${v === input.period ? ' selected' : ''}>${e(l)}</option>`).join('');
  const low = new Map(report.current.low_on_codes.map((l) => [l.identity_id, l.remaining]));
  const locked = new Map(report.current.locked.map((l) => [l.identity_id, l]));
  return `<h1>Rollout friction</h1><form class="inline card" method="get" action="${P}/dashboard"><div><label for="period">Period</label><select id="period" name="period">${periodOptions}</select></div><button type="submit">Show</button><p class="muted">${e(report.since.slice(0, 10))} to ${e(report.until.slice(0, 10))}; same numbers as <code>kairos report friction</code> and <code>GET /admin/reports/friction</code>.</p></form>
<div class="stats">${stats}</div>
<div class="grid">${chart('chart-lockouts', 'Lockouts', [['Delays', (r) => r.lockouts.delay], ['Hard locks', (r) => r.lockouts.locked]])}
${chart('chart-enrollments', 'Enrollments (TOTP, security keys, passkeys)', [['Started', (r) => sumMethods(r, (m) => m.started)], ['Finished', (r) => sumMethods(r, (m) => m.finished)], ['Abandoned', (r) => sumMethods(r, (m) => (Object.values(m.abandoned) as number[]).reduce((a, b) => a + b, 0))]])}
${chart('chart-codes', 'Recovery codes', [['Used', (r) => r.recovery_codes.used], ['Rejected', (r) => r.recovery_codes.rejected.already_used + r.recovery_codes.rejected.invalid]])}
${chart('chart-recoveries', 'Recoveries by tier', [['Backup code', (r) => r.recoveries.backup_code], ['Recovery address', (r) => r.recoveries.recovery_address], ['Helpdesk', (r) => r.recoveries.helpdesk]])}
${listTable('Rejected-code causes', causes, 'console/causes')}
${listTable('Helpdesk actions', actions, 'console/helpdesk-actions')}
<section class="card"><h2>Population clock</h2><p data-testid="console/population">${e(pop.message ?? `${pop.status ?? 'unknown'}: median TOTP offset ${pop.median_offset_seconds ?? 0} s over ${pop.identities ?? 0} identities`)}</p></section>
${who(report.current.locked.map((l) => l.identity_id), 'console/locked-now', 'Locked or delayed now', (id) => ` — ${locked.get(id)!.state}${locked.get(id)!.until ? ` until ${locked.get(id)!.until!.slice(0, 16).replace('T', ' ')} UTC` : ''}`)}
${who(report.current.low_on_codes.map((l) => l.identity_id), 'console/low-codes', `Down to ${report.low_codes_threshold} recovery codes or fewer`, (id) => ` — ${low.get(id)} left`)}
${who(report.identities.locked_out, 'console/locked-out', 'Locked out in this period')}
${who(report.identities.abandoned_enrollment, 'console/abandoned', 'Abandoned an enrollment in this period')}
${who(report.identities.recovered_by_helpdesk, 'console/helpdesk-recovered', 'Recovered by the helpdesk in this period')}</div>`;
}

export function configurationPage(rows: [string, string, string][]): string {
  return `<h1>Configuration</h1><p class="lead">What is in force, read-only, with the key that sets each value (YAML key; environment variable in Kratos's style: the key upper-cased, joined with <code>_</code>).</p><div class="card scroll" tabindex="0" role="region" aria-label="Configuration"><table data-testid="console/configuration"><thead><tr><th scope="col">Setting</th><th scope="col">Value</th><th scope="col">Config key</th></tr></thead><tbody>${rows.map(([label, value, key]) => `<tr><th scope="row">${e(label)}</th><td>${e(value)}</td><td><code>${e(key)}</code></td></tr>`).join('')}</tbody></table></div>`;
}

export function signInPage(message: string | null): string {
  return `<h1>Operator console</h1>${message ? messageBox('error', message, 'console/sign-in-error') : ''}<div class="card"><p>Sign in with your own account. The console needs a sign-in with a second factor and a console role (helpdesk, admin or auditor).</p><a class="button" href="${P}/sign-in" data-testid="console/sign-in">Sign in</a></div>`;
}

export function errorPage(status: number, text: string): string {
  return `<h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Something went wrong'}</h1>${messageBox('error', text, 'console/error')}<p><a href="${P}/search">Back to search</a></p>`;
}
