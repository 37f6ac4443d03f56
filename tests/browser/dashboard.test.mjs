// Drives the gateway dashboard in Debian's chromium (headless) against a real gateway.
//
// 1. Starts `pesgw demo` (a national and three provincial gateways with synthetic data) in a
//    fresh directory and reads the URLs and tokens it writes to demo.json.
// 2. Loads the dashboard and asserts its first contentful paint (Performance API) is under 1 s
//    with 8 regions: the user-facing budget of issue #18, measured in the browser.
// 3. Asserts the numbers on the overview, supply-demand, key-group, trends and coverage pages
//    equal the API's; drills province → prefecture → county; applies filters and reopens the
//    shared URL; exports tables as CSV and reads the files (BOM, header, <k marks, trailer);
//    checks the caseworker's cards (names, Chinese dates, what each region answered).
// 4. Switches role to auditor, runs "verify" twice (inclusion + consistency, WebCrypto) and
//    asserts the page says verified; runs the page's Merkle verifier over every shared RFC 6962
//    vector and over tampered real proofs.
// 5. Checks the region list comes from `GET /v1/federation/members`: with /ui/demo/tokens.json
//    absent (as on a plain `pesgw serve`), a pasted token still gets the whole federation.
// 6. Kills one province's gateway process (SIGKILL, pid from demo.json) and checks every
//    federated page names it as unreachable (since when), marks totals partial, draws its tile
//    as missing (not as a non-member) and shows each region's data time.
// 7. Drives every page by keyboard (Tab to a control, Enter) and runs axe-core on every page
//    and role (no serious or critical violation).
// 8. Saves screenshots to artifacts/ (coverage.png, drilldown-*.png, caseworker.png, and
//    national-before.png / national-after*.png around the kill).
//
// Environment: PESGW (path to the binary), CHROMIUM (default /usr/bin/chromium),
// PES_RECORDS (records the demo pushes, default 3000), PES_REGIONS (provinces, default 8).
import { chromium } from 'playwright-core';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const PESGW = process.env.PESGW || path.join(repo, 'target/debug/pesgw');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RECORDS = Number(process.env.PES_RECORDS || 3000);
const REGIONS = Number(process.env.PES_REGIONS || 8);
const artifacts = path.join(here, 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pes-browser-'));
const children = [];
let failures = 0;
/** The seven key groups of the schema, in its order (`store::facts::KEY_GROUPS`). */
const KEY_GROUPS = ['college_graduate', 'migrant_worker', 'out_of_poverty', 'flexible_worker', 'disabled', 'veteran', 'long_term_unemployed'];

function log(...a) { console.log('[browser-test]', ...a); }
/** Whether `port` can be listened on at 127.0.0.1 now. */
function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
/**
 * The first of `n` consecutive free ports (the demo takes HTTP and federation ports in a row),
 * below the kernel's ephemeral range (32768 and up), where outgoing connections take their local
 * ports and could hold one of the run between this check and the demo's bind.
 */
async function freePortRun(n) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (32000 - 20000 - n));
    let ok = true;
    for (let p = base; ok && p < base + n; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error('no run of ' + n + ' free ports between 20000 and 32000');
}
async function waitFor(fn, what, ms = 90000) {
  const end = Date.now() + ms;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { /* not yet */ }
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 250));
  }
}
function hasDemo() {
  try { execFileSync(PESGW, ['demo', '--help'], { stdio: 'ignore' }); return true; } catch (e) { return false; }
}

/** A running federation: { base, tokens: {role: token}, gateways }. */
async function startDemo() {
  const dir = path.join(work, 'demo');
  // A national gateway and REGIONS provinces, each an HTTP and a federation port.
  const port = await freePortRun(2 * (REGIONS + 1));
  const child = spawn(PESGW, ['demo', '--dir', dir, '--regions', String(REGIONS), '--records', String(RECORDS), '--port', String(port),
    '--mappings', path.join(repo, 'adapters/mappings')], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
  const info = await waitFor(() => {
    const f = path.join(dir, 'demo.json');
    return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
  }, 'demo.json', 180000);
  const tokenFor = (region, role) => (info.tokens.find((t) => t.region === region && t.role === role) || {}).token;
  const provinces = info.gateways.filter((g) => g.role === 'provincial');
  await waitFor(async () => (await fetch(info.national.url + '/healthz')).ok, 'demo healthz');
  // The national gateway answers for the provinces once it fans out (DESIGN section 5); until
  // then its own answers hold no provincial data, so the first province is tested instead.
  const probe = await fetch(info.national.url + '/v1/query', {
    method: 'POST', headers: { Authorization: 'Bearer ' + tokenFor(info.national.region, 'analyst'), 'Content-Type': 'application/json' },
    body: JSON.stringify({ dataset: 'vacancy', group_by: ['province'], regions: provinces.map((g) => g.region) }),
  });
  const fansOut = probe.ok && Array.isArray((await probe.json()).regions);
  const target = fansOut ? info.national : provinces[0];
  log(fansOut ? 'national gateway fans out: testing it' : 'national gateway does not fan out yet: testing province ' + target.region);
  const base = target.url;
  const tokens = {};
  for (const role of ['analyst', 'caseworker', 'auditor', 'admin']) tokens[role] = tokenFor(target.region, role);
  info.regionsAsked = provinces.map((g) => g.region);
  return { base, tokens, demo: true, info };
}

async function api(fed, token, p, body) {
  const res = await fetch(fed.base + p, {
    method: body ? 'POST' : 'GET',
    headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.equal(res.status, 200, p + ' answered ' + res.status + ': ' + await res.clone().text());
  return res.json();
}

function check(name, fn) {
  try { fn(); log('ok  ', name); } catch (e) { failures++; log('FAIL', name, '\n', e.message); }
}

/** Signs in by the demo's role picker, or by pasting the token (`paste`). */
async function signIn(page, fed, role, paste = false) {
  await page.goto(fed.base + '/#/signin');
  const btn = page.locator(`button[data-role="${role}"]`);
  if (!paste && await btn.count()) await btn.first().click();
  else {
    await page.fill('#token-input', fed.tokens[role]);
    await page.click('#page-signin button[type=submit]');
  }
  await page.waitForSelector(`#who-text[data-role="${role}"]`);
}

/** Reads a table's rows into { key: { col: value } } from data-region / data-k / data-value. */
async function tableValues(page, sel, rowKey) {
  return page.$$eval(sel + ' tbody tr', (trs, rowKey) => {
    const out = {};
    for (const tr of trs) {
      const key = rowKey.map((k) => tr.getAttribute(k)).join('/');
      out[key] = {};
      for (const td of tr.querySelectorAll('td[data-k]')) out[key][td.dataset.k] = td.dataset.value;
    }
    return out;
  }, rowKey);
}
const asValue = (n) => (n === null || n === undefined ? 'suppressed' : String(n));
/** The API's rounding of a ratio (`ratio_of`): two decimals from 1 up, three significant digits below. */
function ratioOf(v, s) {
  const r = v / s;
  if (!(r > 0)) return 0;
  const d = Math.min(12, Math.max(2, 2 - Math.floor(Math.log10(r))));
  return Math.round(r * 10 ** d) / 10 ** d;
}

/** The provinces among the members the gateway lists (what the dashboard asks). */
async function memberProvinces(fed) {
  const m = await api(fed, fed.tokens.analyst, '/v1/federation/members');
  return m.members.map((x) => x.region).filter((r) => /^\d{6}$/.test(r) && r !== fed.info.national.region);
}

/** Opens a dashboard route afresh (a full load: the page reads the federation again). */
async function open(page, fed, route, ready) {
  await page.goto(fed.base + '/#/' + route);
  await page.reload({ waitUntil: 'load' });
  if (ready) await page.waitForSelector(ready, { timeout: 30000 });
}

/**
 * The region list comes from the members endpoint, not from demo files: with
 * /ui/demo/tokens.json answering 404 (as on a plain `pesgw serve`), a pasted token gets the
 * whole federation, and the dashboard's queries ask exactly the members' provinces.
 */
async function membersNotDemoFiles(page, fed) {
  await page.route('**/ui/demo/tokens.json', (r) => r.fulfill({ status: 404, contentType: 'application/problem+json', body: '{"title":"Not Found","status":404}' }));
  const seen = [];
  const onRequest = (req) => seen.push({ url: new URL(req.url()).pathname, method: req.method(), body: req.postData() });
  page.on('request', onRequest);
  try {
    await page.goto(fed.base + '/#/signin');
    await page.evaluate(() => sessionStorage.clear());
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('#token-input');
    const pickers = await page.locator('#page-signin button[data-role]').count();
    check('without demo tokens the sign-in page offers no role picker', () => assert.equal(pickers, 0));
    await page.fill('#token-input', fed.tokens.analyst);
    await page.click('#page-signin button[type=submit]');
    await page.waitForSelector('#who-text[data-role="analyst"]');
    await open(page, fed, 'overview', '#overview-table');
    const want = (await memberProvinces(fed)).sort();
    const shownRegions = await page.$$eval('#overview-body [data-asof-region]', (els) => els.map((e) => e.getAttribute('data-asof-region')));
    const queries = seen.filter((r) => r.url === '/v1/query' && r.method === 'POST').map((r) => JSON.parse(r.body || '{}'));
    check('with a pasted token and no demo files, the region list comes from /v1/federation/members', () => {
      assert.ok(seen.some((r) => r.url === '/ui/demo/tokens.json'), 'the page looked for demo tokens (and got 404)');
      assert.ok(seen.some((r) => r.url === '/v1/federation/members'), 'the page read the members endpoint');
      assert.ok(want.length >= 2, 'the demo federation has provinces: ' + want);
      assert.ok(queries.length >= 2, 'the overview asked its queries');
      for (const q of queries) assert.deepEqual([...q.regions].sort(), want, 'regions asked');
      assert.deepEqual([...shownRegions].sort(), want, 'regions shown in the status line');
    });
  } finally {
    page.off('request', onRequest);
    await page.unroute('**/ui/demo/tokens.json');
  }
}

const hms = (iso) => {
  const d = new Date(iso);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
};

/**
 * One province's gateway process is killed: every federated page names it as unreachable
 * since the time the national gateway states, marks its totals partial, shows each region's data
 * time, and the overview map draws it as missing, unlike a province outside the federation.
 */
async function outage(page, fed) {
  const asked = await memberProvinces(fed);
  const victim = fed.info.gateways.find((g) => g.role === 'provincial' && asked.includes(g.region));
  const zhName = victim.name.split(' ')[0];
  const nonMember = '650000'; // 新疆: no demo gateway
  assert.ok(!asked.includes(nonMember));
  await signIn(page, fed, 'analyst');

  // Before: complete, every region's data time shown, every member drawn as answered.
  await open(page, fed, 'overview', '#overview-table');
  await page.screenshot({ path: path.join(artifacts, 'national-before.png'), fullPage: true });
  const before = await statusOf(page, '#overview-body');
  const tilesBefore = await tiles(page);
  check('before the outage: the overview is complete, each region has a data time, members are drawn as answered', () => {
    assert.equal(before.complete, 'true');
    assert.deepEqual(before.missing, []);
    assert.equal(before.partial, 0);
    assert.deepEqual(Object.keys(before.asOf).sort(), [...asked].sort());
    for (const [r, a] of Object.entries(before.asOf)) assert.match(a.text, /\d\d:\d\d:\d\d/, r);
    for (const r of asked) assert.equal(tilesBefore[r].state, 'answered', r);
    assert.equal(tilesBefore[nonMember].state, 'non-member');
  });

  // The province's process dies; the national gateway and the other provinces keep running.
  log('killing', victim.region, victim.name, 'pid', victim.pid);
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(async () => { try { await fetch(victim.url + '/healthz'); return false; } catch (e) { return true; } }, victim.region + ' to stop', 30000);

  const expectMissing = async (where, what) => {
    const st = await statusOf(page, where);
    const members = await api(fed, fed.tokens.analyst, '/v1/federation/members');
    const m = members.members.find((x) => x.region === victim.region);
    check(what + ': the status line names ' + victim.region + ' unreachable since the time the gateway states, totals are partial, data times shown', () => {
      assert.equal(st.complete, 'false');
      assert.deepEqual(st.missing.map((x) => x.region), [victim.region]);
      const line = st.missing[0].text;
      assert.ok(line.includes(zhName), line);
      assert.ok(m.unreachable_since, 'the members endpoint states since when');
      assert.ok(line.includes('unreachable since ' + hms(m.unreachable_since)), line + ' / ' + m.unreachable_since);
      assert.ok(line.includes('自 ' + hms(m.unreachable_since) + ' 起无法连接'), line);
      assert.match(st.cover, new RegExp((asked.length - 1) + ' of ' + asked.length + ' regions'));
      assert.ok(st.partial >= 1, 'a partial mark');
      assert.deepEqual(Object.keys(st.asOf).sort(), [...asked].sort());
      for (const r of asked.filter((x) => x !== victim.region)) assert.match(st.asOf[r].text, /\d\d:\d\d:\d\d/, 'data time of ' + r);
    });
    return st;
  };

  // Overview: status, partial totals (the remaining regions' sum), the tile drawn as missing.
  await open(page, fed, 'overview', '#overview-body .fedstatus[data-complete="false"]');
  await page.screenshot({ path: path.join(artifacts, 'national-after.png'), fullPage: true });
  await expectMissing('#overview-body', 'overview');
  const seek = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'job_seeker_registration', measures: ['count'], group_by: ['province'], filters: { status: ['active'] }, regions: asked, purpose: 'dashboard_overview' });
  const kpi = await page.$eval('[data-kpi=seekers]', (e) => ({ text: e.textContent, partial: e.getAttribute('data-partial') }));
  const tilesAfter = await tiles(page);
  const rowState = await page.getAttribute(`#overview-table tr[data-region="${victim.region}"]`, 'data-state');
  check('overview after the outage: totals are the answering regions\' and marked partial; the tile is drawn missing', () => {
    assert.equal(seek.complete, false);
    assert.equal(kpi.partial, 'true');
    assert.equal(Number(kpi.text.replace(/[,+]/g, '')), seek.cells.reduce((t, c) => t + (c.count || 0), 0));
    assert.equal(tilesAfter[victim.region].state, 'missing');
    assert.equal(tilesAfter[nonMember].state, 'non-member');
    assert.notEqual(tilesAfter[victim.region].fill, tilesAfter[nonMember].fill, 'missing and non-member look different');
    assert.notEqual(tilesAfter[victim.region].stroke, tilesAfter[nonMember].stroke);
    for (const r of asked.filter((x) => x !== victim.region)) assert.equal(tilesAfter[r].state, 'answered', r);
    assert.equal(rowState, 'missing', 'the table lists the missing region as missing');
  });

  // Supply and demand.
  await open(page, fed, 'occupations', '#occupations-body .fedstatus');
  await expectMissing('#occupations-body', 'supply-demand');
  const sdRegions = await page.$$eval('#occupations-table tbody tr[data-region]:not([data-state=missing])', (trs) => [...new Set(trs.map((t) => t.getAttribute('data-region')))]);
  const sdMissingRow = await page.locator(`#occupations-table tr[data-region="${victim.region}"][data-state=missing]`).count();
  const sd = await api(fed, fed.tokens.analyst, '/v1/reports/supply-demand?regions=' + asked.join(','));
  check('supply-demand after the outage: the API says incomplete; the page shows no figures of the missing region, only a row saying it is missing', () => {
    assert.equal(sd.complete, false);
    assert.ok(!sdRegions.includes(victim.region), sdRegions.join(','));
    assert.equal(sdMissingRow, 1);
  });
  await page.screenshot({ path: path.join(artifacts, 'national-after-occupations.png'), fullPage: true });

  // Key groups.
  await open(page, fed, 'groups', '#groups-body .fedstatus');
  await expectMissing('#groups-body', 'key groups');
  const groupsMissingRow = await page.locator(`#groups-table tr[data-region="${victim.region}"][data-state=missing]`).count();
  check('key groups after the outage: the table lists the missing region as missing', () => assert.equal(groupsMissingRow, 1));
  await page.screenshot({ path: path.join(artifacts, 'national-after-groups.png'), fullPage: true });

  // Trends and coverage.
  await open(page, fed, 'trends', '#trends-body .fedstatus');
  await expectMissing('#trends-body', 'trends');
  await open(page, fed, 'coverage', '#coverage-body .fedstatus');
  const covSt = await statusOf(page, '#coverage-body');
  check('coverage after the outage: the status line names the missing province', () => {
    assert.equal(covSt.complete, 'false');
    assert.ok(covSt.missing.some((m) => m.region === victim.region), JSON.stringify(covSt.missing));
  });
  await page.screenshot({ path: path.join(artifacts, 'national-after-coverage.png'), fullPage: true });

  // Region health: the member is down.
  await open(page, fed, 'health', '#health-table');
  const reach = await page.getAttribute(`#health-table tr[data-region="${victim.region}"]`, 'data-reachable');
  check('region health lists the killed province as down', () => assert.equal(reach, 'no'));
  await page.screenshot({ path: path.join(artifacts, 'national-after-health.png'), fullPage: true });

  // Caseworker lookup.
  await signIn(page, fed, 'caseworker');
  await open(page, fed, 'caseworker', '#page-caseworker form');
  const sample = fed.info.sample_person;
  await page.selectOption('select[name=kind]', 'person_key');
  await page.fill('input[name=ident]', sample.person_key);
  await page.fill('input[name=legal_basis]', '就业服务与就业管理规定 第六十二条');
  await page.click('#page-caseworker button[type=submit]');
  await page.waitForSelector('#lookup-result .fedstatus', { timeout: 30000 });
  await expectMissing('#lookup-result', 'caseworker lookup');
  await page.screenshot({ path: path.join(artifacts, 'national-after-caseworker.png'), fullPage: true });
}

/** The status line of a page part: complete, missing regions, partial marks, data times. */
async function statusOf(page, where) {
  return page.$eval(where, (root) => {
    const st = root.querySelector('.fedstatus');
    if (!st) return { complete: null, missing: [], partial: 0, asOf: {}, cover: '' };
    const asOf = {};
    for (const e of st.querySelectorAll('[data-asof-region]')) asOf[e.getAttribute('data-asof-region')] = { iso: e.getAttribute('data-as-of'), text: e.textContent };
    return {
      complete: st.getAttribute('data-complete'),
      cover: st.querySelector('.cover').textContent,
      missing: [...st.querySelectorAll('[data-missing-region]')].map((e) => ({ region: e.getAttribute('data-missing-region'), text: e.textContent })),
      partial: root.querySelectorAll('[data-partial="true"]').length,
      asOf,
    };
  });
}

/** The overview map's tiles: state, fill and stroke by region. */
async function tiles(page) {
  return page.$$eval('#overview-body svg g[data-region]', (gs) => Object.fromEntries(gs.map((g) => {
    const r = g.querySelector('rect');
    return [g.getAttribute('data-region'), { state: g.getAttribute('data-state'), fill: r.getAttribute('fill'), stroke: r.getAttribute('stroke') }];
  })));
}


/** Presses Tab until the focused element matches `selector` (from the top of the page). */
async function tabTo(page, selector, max = 150) {
  await page.evaluate(() => { if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0); });
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((sel) => !!document.activeElement && document.activeElement.matches(sel), selector)) return true;
  }
  return false;
}

/**
 * Every page works by keyboard: Tab reaches a control of the page and Enter activates it (a
 * drill-down link, an export button, the lookup form, the verify button, a role button).
 */
async function keyboard(page, fed) {
  await signIn(page, fed, 'analyst');
  await open(page, fed, 'overview', '#overview-table');
  const reachedTile = await tabTo(page, '#overview-body a[data-drill]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#overview-table[data-level=prefecture]', { timeout: 30000 });
  check('keyboard: Tab reaches a province (map tile or row) and Enter drills into its prefectures', () => assert.ok(reachedTile));
  for (const route of ['overview', 'occupations', 'groups', 'trends', 'coverage']) {
    await open(page, fed, route, `#page-${route} button[data-export]`);
    const reached = await tabTo(page, `#page-${route} button[data-export]`);
    let file = '';
    if (reached) {
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.keyboard.press('Enter')]);
      file = fs.readFileSync(await dl.path(), 'utf8');
    }
    check(`keyboard: on ${route}, Tab reaches an export button and Enter downloads the CSV`, () => {
      assert.ok(reached, 'reached by Tab');
      assert.equal(file.charCodeAt(0), 0xfeff);
    });
  }
  await open(page, fed, 'trends', '#trends-table');
  const reachedFilter = await tabTo(page, '#f-kg');
  await page.keyboard.press('ArrowDown');
  const chosen = await page.$eval('#f-kg', (e) => e.value);
  const reachedApply = await tabTo(page, '#filters-apply');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#trends-table');
  const kbHash = await page.evaluate(() => location.hash);
  check('keyboard: a filter is chosen with the arrow keys and applied with Enter', () => {
    assert.ok(reachedFilter && reachedApply);
    assert.ok(chosen, 'a key group chosen');
    assert.match(kbHash, new RegExp('kg=' + chosen));
  });
  await open(page, fed, 'health', '#health-table');
  const reachedHealth = await tabTo(page, '#page-health a[href="#/signin"]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#page-signin:not([hidden])');
  check('keyboard: on region health, Tab reaches the switch-role link and Enter follows it', () => assert.ok(reachedHealth));

  await signIn(page, fed, 'caseworker');
  await open(page, fed, 'caseworker', '#page-caseworker form');
  const reachedIdent = await tabTo(page, '#page-caseworker input[name=ident]');
  await page.keyboard.type(fed.info.sample_person.id_number);
  const reachedBasis = await tabTo(page, '#page-caseworker input[name=legal_basis]');
  await page.keyboard.type('就业服务与就业管理规定 第六十二条');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#lookup-result .person-card', { timeout: 30000 });
  check('keyboard: the caseworker fills the lookup form and submits it with Enter', () => { assert.ok(reachedIdent); assert.ok(reachedBasis); });

  await signIn(page, fed, 'auditor');
  await open(page, fed, 'audit', '#audit-table');
  const reachedVerify = await tabTo(page, '#verify-button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#verify-verdict [data-verdict]', { timeout: 60000 });
  check('keyboard: the auditor reaches verify by Tab and runs it with Enter', () => assert.ok(reachedVerify));

  await page.goto(fed.base + '/#/signin');
  await page.waitForSelector('#page-signin button[data-role=analyst]');
  const reachedRole = await tabTo(page, '#page-signin button[data-role=analyst]');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#who-text[data-role="analyst"]');
  check('keyboard: sign-in by role with Tab and Enter', () => assert.ok(reachedRole));
}

/**
 * axe-core on every page and role, in a second browser context that bypasses the page's CSP
 * (axe is injected as a script; the dashboard itself allows none): no serious or critical
 * violation.
 */
async function accessibility(fed, prov) {
  const axeSource = fs.readFileSync(path.join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    const ctx = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const page = await ctx.newPage();
    const views = [
      ['analyst', 'overview', '#overview-table'],
      ['analyst', 'overview?at=' + prov, '#overview-table[data-level=prefecture]'],
      ['analyst', 'occupations', '#occupations-table'],
      ['analyst', 'groups', '#groups-table'],
      ['analyst', 'trends', '#trends-table'],
      ['analyst', 'coverage', '#coverage-gaps-card'],
      ['analyst', 'health', '#health-table'],
      ['admin', 'overview', '#overview-table'],
      ['caseworker', 'caseworker', '#page-caseworker form'],
      ['auditor', 'audit', '#audit-table'],
      ['auditor', 'health', '#checkpoint-card'],
      [null, 'signin', '#token-input'],
    ];
    for (const [role, route, ready] of views) {
      await page.goto(fed.base + '/#/signin');
      await page.evaluate((t) => { if (t) sessionStorage.setItem('pes.token', t); else sessionStorage.clear(); }, role ? fed.tokens[role] : null);
      await page.goto(fed.base + '/#/' + route);
      await page.reload({ waitUntil: 'load' });
      await page.waitForSelector(ready, { timeout: 30000 });
      if (route === 'caseworker') {
        await page.fill('input[name=ident]', fed.info.sample_person.id_number);
        await page.fill('input[name=legal_basis]', '就业服务与就业管理规定 第六十二条');
        await page.click('#page-caseworker button[type=submit]');
        await page.waitForSelector('#lookup-result .person-card', { timeout: 30000 });
      }
      await page.evaluate(axeSource);
      const { bad, passes, other } = await page.evaluate(async () => {
        const r = await window.axe.run(document);
        return {
          passes: r.passes.length,
          other: r.violations.filter((v) => v.impact !== 'serious' && v.impact !== 'critical').map((v) => v.id + ' (' + v.impact + ')'),
          bad: r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) })),
        };
      });
      log(`axe ${route} (${role || 'signed out'}): ${passes} rules passed; minor/moderate: ${other.join(', ') || 'none'}`);
      check(`axe ran on ${route} as ${role || 'signed out'}`, () => assert.ok(passes > 10, 'rules passed: ' + passes));
      check(`axe: no serious or critical violation on ${route} as ${role || 'signed out'}`, () => assert.deepEqual(bad, []));
    }
    await ctx.close();
  } finally {
    await browser.close();
  }
}

async function main() {
  log('pesgw:', PESGW);
  assert.ok(hasDemo(), PESGW + ' has no `demo` subcommand');
  const fed = await startDemo();
  log('demo federation; dashboard under test at', fed.base);

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pes-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = context.pages()[0] || await context.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  try {
    // ------------------------------------------------ sign in as analyst, then measure a cold load
    await signIn(page, fed, 'analyst', true);
    await page.goto(fed.base + '/#/overview');
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('#overview-table', { timeout: 30000 });
    const perf = await page.evaluate(async () => {
      const lcp = await new Promise((resolve) => {
        new PerformanceObserver((l) => { const e = l.getEntries(); resolve(e.length ? e[e.length - 1].startTime : null); })
          .observe({ type: 'largest-contentful-paint', buffered: true });
        setTimeout(() => resolve(null), 1000);
      });
      const get = (n) => { const e = performance.getEntriesByName(n); return e.length ? e[0].startTime : null; };
      const nav = performance.getEntriesByType('navigation')[0];
      return { fp: get('first-paint'), fcp: get('first-contentful-paint'), lcp, data: get('pes:overview-data'), dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd };
    });
    const ms = (v) => (v === null ? 'n/a' : v.toFixed(0) + ' ms');
    log(`first paint ${ms(perf.fp)}, first contentful paint ${ms(perf.fcp)}, largest contentful paint ${ms(perf.lcp)}, `
      + `overview numbers painted ${ms(perf.data)}, DOMContentLoaded ${ms(perf.dcl)}, load ${ms(perf.load)}`);
    check('first contentful paint of the overview is under 1 s with ' + REGIONS + ' regions (the budget of issue #18)', () => {
      assert.ok(perf.fcp !== null, 'the Performance API reports first-contentful-paint');
      assert.ok(perf.fcp < 1000, 'FCP ' + perf.fcp + ' ms');
    });
    await page.screenshot({ path: path.join(artifacts, '01-overview.png'), fullPage: true });

    // ------------------------------------------------ overview numbers = API numbers
    const regions = fed.demo ? fed.info.regionsAsked : [];
    const seek = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'job_seeker_registration', measures: ['count'], group_by: ['province'], filters: { status: ['active'] }, regions, purpose: 'dashboard_overview' });
    const vac = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'vacancy', measures: ['count', 'sum'], group_by: ['province'], filters: { status: ['open'] }, regions, purpose: 'dashboard_overview' });
    const shown = await tableValues(page, '#overview-table', ['data-region']);
    check('overview seekers per province equal the API', () => {
      assert.ok(seek.cells.length > 0, 'the API returned no seeker cells');
      for (const c of seek.cells) assert.equal(shown[c.group.province].seekers, asValue(c.count), c.group.province);
    });
    check('overview vacancies per province equal the API (openings summed)', () => {
      for (const c of vac.cells) assert.equal(shown[c.group.province].vacancies, asValue(c.suppressed ? null : c.sum), c.group.province);
      for (const [code, row] of Object.entries(shown)) {
        if (!vac.cells.some((c) => c.group.province === code)) assert.equal(row.vacancies, '0', code + ' has no vacancy cell');
      }
    });
    check('overview ratio = vacancies / seekers', () => {
      for (const [code, row] of Object.entries(shown)) {
        if (row.seekers !== 'suppressed' && row.vacancies !== 'suppressed' && Number(row.seekers) > 0) {
          assert.equal(Number(row.ratio), ratioOf(Number(row.vacancies), Number(row.seekers)), code);
        }
      }
    });
    const kpi = await page.$eval('[data-kpi=seekers]', (e) => e.textContent);
    check('overview total seekers KPI = sum of API cells', () => {
      const sum = seek.cells.reduce((t, c) => t + (c.count || 0), 0);
      assert.equal(Number(kpi.replace(/[,+]/g, '')), sum);
    });

    // ------------------------------------------------ API latency of the dashboard's calls (printed, not asserted)
    const calls = {
      'query seekers by province': () => api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'job_seeker_registration', measures: ['count'], group_by: ['province'], filters: { status: ['active'] }, regions, purpose: 'dashboard_overview' }),
      'query vacancies by province': () => api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'vacancy', measures: ['count', 'sum'], group_by: ['province'], filters: { status: ['open'] }, regions, purpose: 'dashboard_overview' }),
      'query key groups': () => api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'person', measures: ['count'], group_by: ['province', 'key_group'], regions, purpose: 'dashboard_key_groups' }),
      'query registrations by key group and month': () => api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'job_seeker_registration', measures: ['count'], group_by: ['province', 'key_group', 'month'], filters: { key_group: KEY_GROUPS }, regions, purpose: 'dashboard_key_groups' }),
      'supply-demand report': () => api(fed, fed.tokens.analyst, '/v1/reports/supply-demand' + (regions.length ? '?regions=' + regions.join(',') : '')),
    };
    for (const [name, call] of Object.entries(calls)) {
      const ms = [];
      for (let i = 0; i < 200; i++) { const t = performance.now(); await call(); ms.push(performance.now() - t); }
      ms.sort((a, b) => a - b);
      log(`latency ${name}: p50 ${ms[99].toFixed(1)} ms, p99 ${ms[197].toFixed(1)} ms (200 calls)`);
    }

    // ------------------------------------------------ supply and demand by occupation
    await page.goto(fed.base + '/#/occupations');
    await page.waitForSelector('#occupations-table');
    const sd = await api(fed, fed.tokens.analyst, '/v1/reports/supply-demand' + (regions.length ? '?regions=' + regions.join(',') : ''));
    const sdShown = await tableValues(page, '#occupations-table', ['data-region', 'data-occ']);
    check('supply-demand rows equal the API, suppressed shown as suppressed', () => {
      assert.ok(sd.rows.length > 0, 'no supply-demand rows');
      assert.equal(Object.keys(sdShown).length, sd.rows.length);
      for (const r of sd.rows) {
        const row = sdShown[r.region + '/' + r.occupation_major];
        assert.equal(row.vacancies, asValue(r.open_vacancies), 'vacancies ' + r.occupation_major);
        assert.equal(row.seekers, asValue(r.active_seekers), 'seekers ' + r.occupation_major);
        assert.equal(row.ratio, r.ratio === null ? '' : String(r.ratio));
      }
    });
    const ratioTexts = await page.$$eval('#occupations-table td[data-k=ratio]', (tds) => tds.map((td) => td.textContent));
    check('a ratio with a suppressed part is marked withheld, never shown as a count "<k"', () => {
      for (const t of ratioTexts) assert.ok(!t.startsWith('<'), 'ratio cell shows ' + t);
    });
    const supCount = await page.locator('#occupations-table .sup').count();
    log('suppressed cells shown on the supply-demand page:', supCount);
    if (regions.length) {
      await page.waitForSelector('#no-takers-card h3, #no-takers-card table, #no-takers-card [data-nodata]');
      const nt = await api(fed, fed.tokens.analyst, '/v1/reports/no-takers?regions=' + regions.join(','));
      const ntShown = (await page.$('#no-takers')) ? await tableValues(page, '#no-takers', ['data-region', 'data-occ']) : {};
      log('no-takers:', nt.rows.length, 'rows of', nt.groups_with_vacancies, 'groups with vacancies');
      check('no-takers card shows the rows of /v1/reports/no-takers, suppressed as suppressed', () => {
        assert.equal(Object.keys(ntShown).length, nt.rows.length);
        for (const r of nt.rows) {
          const row = ntShown[r.region + '/' + r.occupation_group];
          assert.ok(row, 'row ' + r.region + '/' + r.occupation_group);
          assert.equal(row.vacancies, asValue(r.vacancies));
          assert.equal(row.openings, asValue(r.openings));
        }
      });
    }
    await page.screenshot({ path: path.join(artifacts, '02-occupations.png'), fullPage: true });

    // ------------------------------------------------ key groups
    await page.goto(fed.base + '/#/groups');
    await page.waitForSelector('#groups-table');
    const groups = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'person', measures: ['count'], group_by: ['province', 'key_group'], filters: { key_group: KEY_GROUPS }, regions, purpose: 'dashboard_key_groups' });
    const gShown = await tableValues(page, '#groups-table', ['data-region']);
    const groupColumns = await page.locator('#groups-table thead th').count();
    check('the key-groups table has a column for each of the 7 key groups', () => assert.equal(groupColumns, 1 + KEY_GROUPS.length));
    check('key-group counts equal the API', () => {
      for (const c of groups.cells) assert.equal(gShown[c.group.province][c.group.key_group], asValue(c.count), c.group.key_group);
    });
    const monthly = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'job_seeker_registration', measures: ['count'], group_by: ['province', 'key_group', 'month'], filters: { key_group: KEY_GROUPS }, regions, purpose: 'dashboard_key_groups' });
    const shownRegion = await page.locator('#groups-months-region').inputValue();
    const seriesDrawn = await page.locator('#groups-months svg path').count();
    check('registrations by key group and month are drawn for the selected region', () => {
      const groupsWithData = new Set(monthly.cells.filter((c) => c.group.province === shownRegion && c.group.month !== 'none' && typeof c.count === 'number').map((c) => c.group.key_group));
      assert.ok(groupsWithData.size > 0, 'the API has monthly key-group cells for ' + shownRegion);
      assert.equal(seriesDrawn, groupsWithData.size, 'one line per key group with unsuppressed months');
    });
    await page.screenshot({ path: path.join(artifacts, '03-groups.png'), fullPage: true });

    // ------------------------------------------------ drill-down: province → prefecture → county
    await open(page, fed, 'overview', '#overview-table');
    const prov = regions[0] || (await page.getAttribute('#overview-table a[data-drill]', 'data-drill'));
    await page.click(`#overview-table a[data-drill="${prov}"]`);
    await page.waitForSelector('#overview-table[data-level=prefecture], #overview-body [data-nodata]', { timeout: 30000 });
    const prefApi = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'job_seeker_registration', measures: ['count'], group_by: ['prefecture'], filters: { status: ['active'] }, regions: regions.length ? [prov] : [], purpose: 'dashboard_overview' });
    const prefShown = await tableValues(page, '#overview-table', ['data-region']);
    const crumbs = await page.textContent('#crumbs');
    const hashAfterDrill = await page.evaluate(() => location.hash);
    check('drill-down: a province row opens its prefectures, the numbers equal the API grouped by prefecture, breadcrumbs and URL say where', () => {
      assert.match(hashAfterDrill, new RegExp('at=' + prov));
      assert.ok(crumbs.includes('全国'), crumbs);
      assert.ok(prefApi.cells.length > 0, 'the API has prefecture cells for ' + prov);
      for (const c of prefApi.cells) assert.equal(prefShown[c.group.prefecture || 'none'].seekers, asValue(c.count), c.group.prefecture);
    });
    const prefNamed = await page.$$eval('#overview-table a[data-drill]', (as) => as.map((a) => a.textContent));
    check('drill-down: prefectures are named from /v1/divisions, not shown as bare codes', () => {
      assert.ok(prefNamed.length > 0);
      assert.ok(prefNamed.some((t) => /[\u4e00-\u9fff]/.test(t)), prefNamed.join(' | '));
    });
    await page.screenshot({ path: path.join(artifacts, 'drilldown-prefecture.png'), fullPage: true });
    const firstPref = await page.getAttribute('#overview-table a[data-drill]', 'data-drill');
    await page.click(`#overview-table a[data-drill="${firstPref}"]`);
    await page.waitForSelector('#overview-table[data-level=county], #overview-body [data-nodata]', { timeout: 30000 });
    const countyState = await page.$eval('#overview-body', (b) => ({ table: !!b.querySelector('#overview-table[data-level=county]'), nodata: !!b.querySelector('[data-nodata]'), crumbs: (b.querySelector('#crumbs') || {}).textContent }));
    log('county level:', JSON.stringify(countyState));
    check('drill-down to a prefecture shows its counties, or says there is no county data (never breaks)', () => {
      assert.ok(countyState.table || countyState.nodata);
      assert.ok(countyState.crumbs && countyState.crumbs.includes('›'));
    });
    await page.screenshot({ path: path.join(artifacts, 'drilldown-county.png'), fullPage: true });
    await page.click('#crumbs a >> nth=0');
    await page.waitForSelector('#overview-table[data-level=province]');

    // ------------------------------------------------ filters: applied to the queries, kept in the URL
    const sent = [];
    const onReq = (req) => { if (new URL(req.url()).pathname === '/v1/query' && req.method() === 'POST') sent.push(JSON.parse(req.postData() || '{}')); };
    page.on('request', onReq);
    await open(page, fed, 'groups', '#groups-table');
    sent.length = 0;
    await page.selectOption('#f-kg', 'veteran');
    await page.fill('#f-from', '2024-01');
    await page.click('#filters-apply');
    await page.waitForSelector('#groups-table');
    await waitFor(async () => (await page.locator('#groups-table thead th').count()) === 2, 'the filtered key-groups table');
    const groupsHash = await page.evaluate(() => location.hash);
    page.off('request', onReq);
    check('filters: the key group and month range go into the URL and into the queries that have those dimensions', () => {
      assert.match(groupsHash, /kg=veteran/);
      assert.match(groupsHash, /from=2024-01/);
      const reg = sent.find((q) => q.dataset === 'job_seeker_registration');
      const per = sent.find((q) => q.dataset === 'person');
      assert.ok(reg && per, 'both queries sent: ' + JSON.stringify(sent));
      assert.deepEqual(reg.filters.key_group, ['veteran']);
      assert.equal(reg.date_from, '2024-01');
      assert.equal(per.date_from, undefined, 'person has no month: not filtered by it');
    });
    const ignoredShown = await page.locator('#groups-body [data-ignored-filters]').count();
    check('filters: the page says which dataset could not apply a filter', () => assert.equal(ignoredShown, 1));
    // A shared link opens the same view.
    await page.goto(fed.base + '/' + groupsHash);
    await page.reload({ waitUntil: 'load' });
    await page.waitForSelector('#groups-table');
    const restored = await page.$eval('#f-kg', (s) => s.value);
    check('filters: the shared link restores the key group', () => assert.equal(restored, 'veteran'));

    // ------------------------------------------------ time series
    await open(page, fed, 'trends', '#trends-table');
    const trendApi = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'job_seeker_registration', measures: ['count'], group_by: ['province', 'month'], regions, purpose: 'statistics' });
    const trendShown = await tableValues(page, '#trends-table', ['data-region', 'data-month']);
    const trendLines = await page.locator('#trends-chart svg path').count();
    check('trends: monthly seekers per region equal the API; seekers and vacancies are drawn', () => {
      const cells = trendApi.cells.filter((c) => c.group.month && c.group.month !== 'none');
      assert.ok(cells.length > 0, 'monthly cells');
      for (const c of cells) assert.equal(trendShown[c.group.province + '/' + c.group.month].seekers, asValue(c.count), c.group.province + ' ' + c.group.month);
      assert.ok(trendLines >= 1, 'lines drawn: ' + trendLines);
    });
    await page.screenshot({ path: path.join(artifacts, 'trends.png'), fullPage: true });

    // ------------------------------------------------ CSV export
    const exportCsv = async (tableId) => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`button[data-export="${tableId}"]`)]);
      return fs.readFileSync(await dl.path(), 'utf8');
    };
    await open(page, fed, 'occupations', '#occupations-table');
    const sdCsv = await exportCsv('occupations-table');
    const sdSup = await page.locator('#occupations-table td[data-value=suppressed]').count();
    check('export: the CSV starts with a BOM, has the header row, every row, suppressed cells marked, and the as-of trailer', () => {
      assert.equal(sdCsv.charCodeAt(0), 0xfeff, 'BOM');
      const lines = sdCsv.slice(1).split('\r\n');
      assert.match(lines[0], /Vacancies/);
      assert.match(lines[0], /suppressed/);
      assert.ok(lines.length >= sd.rows.length + 3);
      assert.match(sdCsv, /data as of/);
      assert.match(sdCsv, /regions answered/);
      if (sdSup > 0) assert.match(sdCsv, /,<\d+,/, 'a suppressed cell written as <k');
    });
    await open(page, fed, 'overview', '#overview-table');
    await page.click(`#overview-table a[data-drill="${prov}"]`);
    await page.waitForSelector('#overview-table[data-level=prefecture]');
    const prefCsv = await exportCsv('overview-table');
    const prefSup = await page.locator('#overview-table td[data-value=suppressed]').count();
    log('suppressed cells: supply-demand', sdSup, '· prefectures', prefSup);
    check('export: some exported table carries a suppressed marker (<k) and names the column in the suppressed column', () => {
      assert.ok(sdSup + prefSup > 0, 'the demo data has suppressed cells at some level');
      const withSup = (sdSup ? sdCsv : prefCsv).split('\r\n').find((l) => /,<\d+,/.test(l));
      assert.ok(withSup, 'a row with <k');
      assert.ok(!/,$/.test(withSup), 'its suppressed column names the column: ' + withSup);
    });
    fs.writeFileSync(path.join(artifacts, 'export-prefectures.csv'), prefCsv);

    // ------------------------------------------------ coverage
    await open(page, fed, 'coverage', '#coverage-gaps-card');
    const cov = await page.$eval('#coverage-body', (b) => ({
      cards: [...b.querySelectorAll('.card[id$="-card"]')].map((c) => ({ id: c.id, table: !!c.querySelector('table'), nodata: !!c.querySelector('[data-nodata]') })),
      counties: b.querySelectorAll('#coverage-map .county').length,
      rural: b.querySelectorAll('#coverage-map .county[data-rural=true]').length,
      gaps: b.querySelectorAll('#coverage-gaps tbody tr').length,
    }));
    log('coverage page:', JSON.stringify(cov));
    check('coverage: every card shows a table or says it has no data; the county map lists the province\'s counties with rural ones marked', () => {
      for (const id of ['coverage-stations-card', 'coverage-events-kind-month-card', 'coverage-services-card', 'coverage-platform-card', 'coverage-training-card', 'coverage-gaps-card']) {
        const c = cov.cards.find((x) => x.id === id);
        assert.ok(c, id + ' present');
        assert.ok(c.table || c.nodata, id + ' shows a table or no data');
      }
      assert.ok(cov.counties > 5, 'counties from /v1/divisions: ' + cov.counties);
      assert.ok(cov.rural > 0, 'some counties marked rural');
    });
    const platformApi = await api(fed, fed.tokens.analyst, '/v1/query', { dataset: 'platform_work', measures: ['count'], group_by: ['province', 'status'], regions, purpose: 'statistics' });
    const platformShown = await page.$$eval('#coverage-platform tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [tr.dataset.key, Object.fromEntries([...tr.querySelectorAll('td[data-k]')].map((td) => [td.dataset.k, td.dataset.value]))])));
    check('coverage: platform work by type equals the API', () => {
      for (const c of platformApi.cells) assert.equal(platformShown[c.group.province][c.group.status], asValue(c.count), c.group.province + ' ' + c.group.status);
    });
    await page.screenshot({ path: path.join(artifacts, 'coverage.png'), fullPage: true });

    await page.goto(fed.base + '/#/health');
    await page.waitForSelector('#health-body table');
    await page.screenshot({ path: path.join(artifacts, '04-health.png'), fullPage: true });

    // ------------------------------------------------ caseworker
    await signIn(page, fed, 'caseworker');
    await page.goto(fed.base + '/#/caseworker');
    await page.waitForSelector('#page-caseworker form');
    const sample = (fed.info && fed.info.sample_person) || null;
    const basis = '就业服务与就业管理规定 第六十二条';
    await page.selectOption('select[name=kind]', sample ? 'id_number' : 'person_key');
    await page.fill('input[name=ident]', sample ? sample.id_number : 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.fill('input[name=legal_basis]', basis);
    await page.click('#page-caseworker button[type=submit]');
    await page.waitForSelector('#lookup-result .card, #lookup-result .error');
    log('caseworker lookup answered:', (await page.textContent('#lookup-result')).slice(0, 120));
    await page.screenshot({ path: path.join(artifacts, '05-caseworker.png'), fullPage: true });
    if (sample) {
      const shown = await page.$$eval('#lookup-result .person-card[data-region]', (cards) => cards.map((c) => [c.getAttribute('data-region'), c.getAttribute('data-found')]));
      const asked = await page.$$eval('#page-caseworker input[type=checkbox]:checked', (bs) => bs.map((b) => b.value));
      const viaApi = await api(fed, fed.tokens.caseworker, '/v1/persons/lookup', { person_key: sample.person_key, purpose: 'case_management', legal_basis: basis, regions: asked });
      check('caseworker page shows the same regions and found flags as the API', () => {
        assert.deepEqual(Object.fromEntries(shown), Object.fromEntries(viaApi.regions.map((r) => [r.region, String(r.found)])));
        assert.ok(viaApi.regions.some((r) => r.found), 'the sample person is found somewhere');
      });
      const html = await page.content();
      check('the ID number is not left on the page', () => assert.ok(!html.includes(sample.id_number)));
      const card = await page.$eval('#lookup-result', (r) => ({
        text: r.textContent,
        answers: [...r.querySelectorAll('.person-card [data-answer]')].map((e) => e.getAttribute('data-answer')),
        divisions: [...r.querySelectorAll('dd[data-field$="division"]')].map((e) => e.textContent),
        dates: [...r.querySelectorAll('dd[data-field$="_on"], dd[data-field="birth_date"], dd[data-field="date"]')].map((e) => e.textContent),
        occupations: [...r.querySelectorAll('dd[data-field="desired_occupations"]')].map((e) => e.textContent),
      }));
      log('caseworker card:', JSON.stringify({ divisions: card.divisions.slice(0, 4), dates: card.dates.slice(0, 4), answers: card.answers }));
      check('caseworker: one card per region saying what it answered; names for divisions, Chinese dates, no raw JSON', () => {
        assert.equal(card.answers.length, viaApi.regions.length);
        assert.ok(!/[{}]|":"/.test(card.text), 'no JSON on the page');
        assert.ok(card.divisions.length > 0, 'division fields shown');
        for (const d of card.divisions) assert.match(d, /[\u4e00-\u9fff].*\d{6}/, 'a name, then the code: ' + d);
        assert.ok(card.dates.length > 0, 'date fields shown');
        for (const d of card.dates.filter((x) => x !== '—')) assert.match(d, /^\d{4}年\d{1,2}月(\d{1,2}日)?$/, d);
      });
      const occCodes = [...new Set(card.occupations.flatMap((t) => t.match(/\d-\d\d-\d\d-\d\d/g) || []))];
      const occApi = occCodes.length ? await api(fed, fed.tokens.caseworker, '/v1/occupations?codes=' + occCodes.join(',')) : { known: [] };
      check('caseworker: desired occupations are named by their own name from /v1/occupations, not their major group', () => {
        assert.ok(occCodes.length > 0, 'desired occupations shown: ' + JSON.stringify(card.occupations));
        assert.equal(occApi.known.length, occCodes.length);
        const text = card.occupations.join(' ');
        for (const o of occApi.known) assert.ok(text.includes(o.name + ' ' + o.code), o.name + ' ' + o.code + ' in ' + text);
        assert.ok(!text.includes('（大类）'), text);
      });
      await page.screenshot({ path: path.join(artifacts, 'caseworker.png'), fullPage: true });
    }

    // ------------------------------------------------ switch role: auditor, verify in the browser
    await signIn(page, fed, 'auditor');
    await page.goto(fed.base + '/#/audit');
    await page.waitForSelector('#checkpoint-card');
    await page.waitForSelector('#audit-table');
    await page.click('#verify-button');
    await page.waitForSelector('#verify-verdict [data-verdict]', { timeout: 60000 });
    const v1 = await page.getAttribute('#verify-verdict [data-verdict]', 'data-verdict');
    log('verify #1:', await page.textContent('#verify-verdict'), '|', await page.textContent('#verify-steps'));
    check('auditor verify (inclusion + consistency from a recomputed root) says verified', () => assert.equal(v1, 'verified'));
    // More log entries, then verify again: consistency from the checkpoint verified before.
    await api(fed, fed.tokens.analyst, '/v1/reports/supply-demand' + (regions.length ? '?regions=' + regions.join(',') : ''));
    await api(fed, fed.tokens.analyst, '/v1/reports/supply-demand' + (regions.length ? '?regions=' + regions.join(',') : ''));
    await new Promise((r) => setTimeout(r, 1500)); // checkpoints are published within a second
    await page.click('#verify-button');
    // (No waitForFunction: the page enforces Trusted Types, which blocks evaluated strings.)
    await page.waitForSelector('#verify-verdict [data-verdict]', { timeout: 60000 });
    const v2 = await page.getAttribute('#verify-verdict [data-verdict]', 'data-verdict');
    const steps2 = await page.textContent('#verify-steps');
    log('verify #2:', steps2);
    check('second verify uses the stored checkpoint and says verified', () => {
      assert.equal(v2, 'verified');
      assert.match(steps2, /checkpoint this browser verified before/);
    });
    await page.screenshot({ path: path.join(artifacts, '06-audit-verified.png'), fullPage: true });
    if (fed.info && fed.info.sample_person) {
      // The per-person access report lists the caseworker's lookups of the sample person.
      await page.fill('input[name=person_key]', fed.info.sample_person.person_key);
      await page.click('form:has(input[name=person_key]) button[type=submit]');
      await page.waitForSelector('#person-report p, #person-report .error', { timeout: 60000 });
      const n = await page.$$eval('#person-table tbody tr', (rows) => rows.length);
      check('per-person access report shows the caseworker lookups', () => assert.ok(n >= 2, 'rows: ' + n));
      await page.screenshot({ path: path.join(artifacts, '07-person-report.png'), fullPage: true });
    }

    // The page's verifier against tampered real proofs: must refuse.
    const tamper = await page.evaluate(async () => {
      const M = window.PesMerkle;
      const h = { Authorization: 'Bearer ' + sessionStorage.getItem('pes.token') };
      const cpText = await (await fetch('/v1/audit/checkpoint', { headers: h })).text();
      const cp = window.PesDashboard.parseCheckpoint(cpText);
      const i = Math.floor(cp.size / 2);
      const raw = new Uint8Array(await (await fetch(`/v1/audit/entries?from=${i}&to=${i + 1}`, { headers: h })).arrayBuffer());
      const entry = raw.slice(0, raw.length - 1);
      const proof = await (await fetch(`/v1/audit/proof/inclusion?index=${i}&size=${cp.size}`, { headers: h })).json();
      const results = {};
      const attempt = async (name, fn) => { try { await fn(); results[name] = 'accepted'; } catch (e) { results[name] = 'refused'; } };
      await attempt('genuine', async () => M.verifyInclusion(i, cp.size, await M.leafHash(entry), proof.proof, cp.root));
      const flipped = entry.slice(); flipped[5] ^= 1;
      await attempt('entry-bit-flipped', async () => M.verifyInclusion(i, cp.size, await M.leafHash(flipped), proof.proof, cp.root));
      if (proof.proof.length) {
        const p = proof.proof.slice(); const b = M.fromB64(p[0]); b[0] ^= 0x80; p[0] = M.toB64(b);
        await attempt('proof-hash-flipped', async () => M.verifyInclusion(i, cp.size, await M.leafHash(entry), p, cp.root));
        await attempt('proof-truncated', async () => M.verifyInclusion(i, cp.size, await M.leafHash(entry), proof.proof.slice(1), cp.root));
      }
      await attempt('wrong-index', async () => M.verifyInclusion(i + 1, cp.size, await M.leafHash(entry), proof.proof, cp.root));
      if (cp.size > 2) {
        const con = await (await fetch(`/v1/audit/proof/consistency?old=2&new=${cp.size}`, { headers: h })).json();
        const first = new Uint8Array(await (await fetch('/v1/audit/entries?from=0&to=2', { headers: h })).arrayBuffer());
        const nl = first.indexOf(0x0a);
        const leaves = [await M.leafHash(first.slice(0, nl)), await M.leafHash(first.slice(nl + 1, first.length - 1))];
        const root2 = await M.rootOfLeaves(leaves);
        await attempt('consistency-genuine', () => M.verifyConsistency(2, cp.size, root2, cp.root, con.proof));
        const bad = root2.slice(); bad[0] ^= 1;
        await attempt('consistency-wrong-old-root', () => M.verifyConsistency(2, cp.size, bad, cp.root, con.proof));
      }
      return results;
    });
    log('real-proof checks:', JSON.stringify(tamper));
    check('the in-browser verifier accepts genuine real proofs and refuses tampered ones', () => {
      assert.equal(tamper.genuine, 'accepted');
      for (const [k, v] of Object.entries(tamper)) if (k !== 'genuine' && k !== 'consistency-genuine') assert.equal(v, 'refused', k);
      if ('consistency-genuine' in tamper) assert.equal(tamper['consistency-genuine'], 'accepted');
    });

    // Every RFC 6962 vector of the repository's copy through the page's verifier.
    const vecDir = path.join(repo, 'gateway/tests/fixtures/merkle');
    assert.ok(fs.existsSync(vecDir), 'Merkle vectors missing at ' + vecDir);
    const vectors = [];
    const walk = (d) => { for (const f of fs.readdirSync(d)) { const p = path.join(d, f); if (fs.statSync(p).isDirectory()) walk(p); else if (f.endsWith('.json')) vectors.push({ kind: p.includes('/inclusion/') ? 'inclusion' : 'consistency', name: path.relative(vecDir, p), v: JSON.parse(fs.readFileSync(p, 'utf8')) }); } };
    walk(vecDir);
    const vres = await page.evaluate(async (vectors) => {
      const M = window.PesMerkle;
      const wrong = [];
      for (const { kind, name, v } of vectors) {
        let ok;
        try {
          if (kind === 'inclusion') await M.verifyInclusion(v.leafIdx, v.treeSize, v.leafHash, v.proof || [], v.root);
          else await M.verifyConsistency(v.size1, v.size2, v.root1, v.root2, v.proof || []);
          ok = true;
        } catch (e) { ok = false; }
        if (ok === !!v.wantErr) wrong.push(name);
      }
      return { n: vectors.length, wrong };
    }, vectors);
    log(`Merkle vectors: ${vres.n} run, ${vres.wrong.length} wrong`, vres.wrong.slice(0, 10).join(', '));
    check('page verifier agrees with every Merkle vector', () => {
      assert.ok(vres.n > 100);
      assert.deepEqual(vres.wrong, []);
    });

    // Per-person access report (filters by person_key on the log).
    await page.fill('input[name=person_key]', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
    await page.click('#page-audit form:has(input[name=person_key]) button');
    await page.waitForSelector('#person-report p, #person-report .error');
    log('person report:', (await page.textContent('#person-report')).slice(0, 120));
    await page.screenshot({ path: path.join(artifacts, '07-audit-person-report.png'), fullPage: true });

    await page.goto(fed.base + '/#/signin');
    await page.screenshot({ path: path.join(artifacts, '08-signin.png'), fullPage: true });

    await keyboard(page, fed);
    await accessibility(fed, regions[0]);

    if (fed.demo) {
      await membersNotDemoFiles(page, fed);
      await outage(page, fed);
    }

    check('no script errors or CSP violations in the console', () => assert.deepEqual(consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 404/.test(e)), []));
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

function stop() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGINT');
}
process.on('exit', stop);
try {
  await main();
} catch (e) {
  failures++;
  console.error(e);
} finally {
  stop();
  await new Promise((r) => setTimeout(r, 500));
  fs.rmSync(work, { recursive: true, force: true });
}
log(failures ? `${failures} check(s) failed` : 'all checks passed', '· screenshots in', artifacts);
process.exit(failures ? 1 : 0);
