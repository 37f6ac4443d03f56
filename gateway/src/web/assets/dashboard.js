// The PES gateway dashboard: one page, hash routes, plain DOM (no HTML sinks: the page runs
// under Trusted Types with no policy), charts as inline SVG. Talks only to the gateway that
// served it.
'use strict';
(function () {
  // ---------------------------------------------------------------- reference data
  // The 34 provincial-level divisions (GB/T 2260) on a tile grid: [code, 中文, English, row, col].
  const PROVINCES = [
    ['230000', '黑龙江', 'Heilongjiang', 0, 8],
    ['150000', '内蒙古', 'Inner Mongolia', 1, 6], ['220000', '吉林', 'Jilin', 1, 8],
    ['650000', '新疆', 'Xinjiang', 2, 1], ['620000', '甘肃', 'Gansu', 2, 3], ['640000', '宁夏', 'Ningxia', 2, 4],
    ['140000', '山西', 'Shanxi', 2, 5], ['110000', '北京', 'Beijing', 2, 6], ['210000', '辽宁', 'Liaoning', 2, 7],
    ['630000', '青海', 'Qinghai', 3, 2], ['610000', '陕西', 'Shaanxi', 3, 4], ['130000', '河北', 'Hebei', 3, 5],
    ['120000', '天津', 'Tianjin', 3, 6], ['370000', '山东', 'Shandong', 3, 7],
    ['540000', '西藏', 'Tibet', 4, 1], ['510000', '四川', 'Sichuan', 4, 3], ['500000', '重庆', 'Chongqing', 4, 4],
    ['410000', '河南', 'Henan', 4, 5], ['340000', '安徽', 'Anhui', 4, 6], ['320000', '江苏', 'Jiangsu', 4, 7],
    ['310000', '上海', 'Shanghai', 4, 8],
    ['530000', '云南', 'Yunnan', 5, 3], ['520000', '贵州', 'Guizhou', 5, 4], ['420000', '湖北', 'Hubei', 5, 5],
    ['360000', '江西', 'Jiangxi', 5, 6], ['330000', '浙江', 'Zhejiang', 5, 7],
    ['450000', '广西', 'Guangxi', 6, 4], ['430000', '湖南', 'Hunan', 6, 5], ['440000', '广东', 'Guangdong', 6, 6],
    ['350000', '福建', 'Fujian', 6, 7], ['710000', '台湾', 'Taiwan', 6, 8],
    ['460000', '海南', 'Hainan', 7, 4], ['820000', '澳门', 'Macao', 7, 5], ['810000', '香港', 'Hong Kong', 7, 6],
  ];
  const PROV = new Map(PROVINCES.map((p) => [p[0], { zh: p[1], en: p[2], row: p[3], col: p[4] }]));
  const regionName = (code) => {
    const p = PROV.get(code);
    return p ? p.zh + ' ' + p.en : code === '100000' ? '全国 National' : code;
  };
  // Major groups of the 2022 occupational classification.
  const OCC = {
    1: ['负责人', 'Heads of organisations'],
    2: ['专业技术人员', 'Professionals and technicians'],
    3: ['办事人员', 'Clerical and related'],
    4: ['社会生产和生活服务人员', 'Social production and life services'],
    5: ['农林牧渔业生产人员', 'Agriculture, forestry, animal husbandry, fishery'],
    6: ['生产制造人员', 'Production and manufacturing'],
    7: ['军人', 'Military'],
    8: ['其他从业人员', 'Others'],
    none: ['未填写', 'Not given'],
  };
  const KEY_GROUPS = [
    ['college_graduate', '高校毕业生', 'College graduates', '#0b5cad'],
    ['migrant_worker', '农民工', 'Migrant workers', '#e07b00'],
    ['out_of_poverty', '脱贫人口', 'Out of poverty', '#2f8f5b'],
    ['flexible_worker', '灵活就业人员', 'Flexible workers', '#8e44ad'],
    ['disabled', '残疾人', 'Persons with disabilities', '#c0392b'],
    ['veteran', '退役军人', 'Veterans', '#5d6d7e'],
    ['long_term_unemployed', '长期失业人员', 'Long-term unemployed', '#b7950b'],
  ];
  const ACTIONS = ['ingest_push', 'quarantine_list', 'quarantine_resubmit', 'query_aggregate',
    'report_supply_demand', 'person_lookup', 'federation_serve', 'trust_list_update', 'audit_read',
    'witness_cosign', 'access_denied', 'admin'];
  const PURPOSES = [
    ['case_management', '个案管理 Case management'],
    ['benefit_eligibility', '待遇资格核查 Benefit eligibility'],
    ['job_matching', '职业介绍 Job matching'],
    ['training_referral', '培训推荐 Training referral'],
  ];

  // GB/T 4658 education codes.
  const EDU = { '10': '研究生教育', '11': '博士研究生毕业', '12': '博士研究生结业', '13': '博士研究生肄业', '14': '硕士研究生毕业', '15': '硕士研究生结业', '16': '硕士研究生肄业', '17': '研究生班毕业', '18': '研究生班结业', '19': '研究生班肄业', '20': '大学本科教育', '21': '大学本科毕业', '22': '大学本科结业', '23': '大学本科肄业', '28': '大学普通班毕业', '30': '大学专科教育', '31': '大学专科毕业', '32': '大学专科结业', '33': '大学专科肄业', '40': '中等职业教育', '41': '中等专科毕业', '42': '中等专科结业', '43': '中等专科肄业', '44': '职业高中毕业', '45': '职业高中结业', '46': '职业高中肄业', '47': '技工学校毕业', '48': '技工学校结业', '49': '技工学校肄业', '60': '普通高级中学教育', '61': '普通高中毕业', '62': '普通高中结业', '63': '普通高中肄业', '70': '初级中学教育', '71': '初中毕业', '73': '初中肄业', '80': '小学教育', '81': '小学毕业', '83': '小学肄业', '90': '其他' };
  // GB/T 2261.1 sex codes.
  const SEX = { 0: '未知的性别', 1: '男性', 2: '女性', 9: '未说明的性别' };
  // Service station kinds (service_station.kind and the `station_kind` dimension).
  const STATION_KINDS = [
    ['street_town_window', '街道（乡镇）就业服务窗口', 'Street/town window'],
    ['community_village_point', '社区（村）服务点', 'Community/village point'],
    ['industrial_cluster_station', '产业园区服务站', 'Industrial-cluster station'],
    ['gig_market', '零工市场', 'Gig market'],
    ['online', '线上服务', 'Online'],
    ['market_hr_org', '经营性人力资源服务机构', 'Market HR organisation'],
  ];
  // Chinese names of the code lists the gateway owns and of the status-like values of each
  // record type (`store::facts::status_names`); an unknown code is shown as it is.
  const CODE_ZH = {
    active: '有效', matched: '已匹配', expired: '已过期', withdrawn: '已撤回',
    open: '招聘中', filled: '已招满', closed: '已关闭',
    hired: '录用', separated: '离职', unemployment_registered: '失业登记', unemployment_deregistered: '失业注销',
    in_progress: '培训中', completed: '已结业', certified: '已取证', dropped_out: '中途退出',
    food_delivery: '外卖配送', ride_hailing: '网约车', courier: '快递', freight: '网络货运', domestic_services: '家政服务', other: '其他',
    referral: '职业介绍', counselling: '职业指导', policy_consultation: '政策咨询', training_referral: '培训推介', gig_match: '零工匹配',
    operating: '运营中', suspended: '暂停服务',
    unemployed: '失业人员', new_entrant: '新成长劳动力', employed_seeking: '在职求职', retired_seeking: '退休再就业',
    unit: '单位就业', self_employed: '自主创业', flexible: '灵活就业', platform: '平台就业',
    urban: '城镇', rural: '农村', agricultural: '农业户口', non_agricultural: '非农业户口',
    micro: '微型', small: '小型', medium: '中型', large: '大型',
    placed: '已安置', employed: '已就业', not_placed: '未就业', none: '未填写',
  };
  for (const [c, zh] of KEY_GROUPS) CODE_ZH[c] = zh;
  for (const [c, zh] of STATION_KINDS) CODE_ZH[c] = zh;
  const codeZh = (c) => (c in CODE_ZH ? CODE_ZH[c] : String(c));
  // The dimensions each dataset offers (`store::facts::Dim::applicable`, plus the coverage
  // dimensions of schema 1.x): a filter the dataset lacks is left out and the page says so.
  const DIMS_OF = {
    person: ['prefecture', 'education', 'sex', 'age_band', 'key_group'],
    job_seeker_registration: ['prefecture', 'occupation_major', 'occupation_minor', 'key_group', 'status', 'month'],
    employer: ['prefecture', 'status'],
    vacancy: ['prefecture', 'occupation_major', 'occupation_minor', 'education', 'status', 'month'],
    employment_event: ['prefecture', 'occupation_major', 'occupation_minor', 'status', 'month'],
    training_record: ['occupation_major', 'occupation_minor', 'status', 'month'],
    platform_work: ['prefecture', 'occupation_major', 'occupation_minor', 'status', 'month'],
    service_event: ['prefecture', 'county', 'station_kind', 'outcome', 'status', 'month'],
    service_station: ['prefecture', 'county', 'station_kind', 'status', 'month'],
  };

  // ---------------------------------------------------------------- DOM helpers
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    setProps(el, props);
    append(el, kids);
    return el;
  }
  function s(tag, props, ...kids) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    setProps(el, props);
    append(el, kids);
    return el;
  }
  function setProps(el, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'class') el.setAttribute('class', v);
      else if (k in el && !(el instanceof SVGElement) && typeof v !== 'string') el[k] = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
  }
  /** Replaces an element's children (null and false children are skipped). */
  function fill(el, ...kids) {
    while (el.firstChild) el.firstChild.remove();
    append(el, kids);
  }
  const bi = (zh, en) => [zh, ' ', h('span', { class: 'en' }, en)];
  const fmtInt = (n) => Number(n).toLocaleString('en-US');
  // Ratios as the API rounds them (`ratio_of`): two decimals from 1 up, three significant digits
  // below 1, so 394 / 102,601 reads 0.00384, not 0.00.
  const fmtRatio = (r) => (r === null || r === undefined || !isFinite(r) ? '—'
    : r >= 1 || r === 0 ? r.toFixed(2) : r.toPrecision(3));
  const ratioOf = (v, s) => {
    if (!(s > 0) || v === null || v === undefined) return null;
    const r = v / s;
    if (!(r > 0) || !isFinite(r)) return 0;
    const d = Math.min(12, Math.max(2, 2 - Math.floor(Math.log10(r))));
    return Math.round(r * 10 ** d) / 10 ** d;
  };
  const byId = (id) => document.getElementById(id);

  /** A suppressed value, shown as "<k", never as zero. */
  function supCell(k) {
    return h('span', { class: 'sup', title: '已抑制：少于 ' + k + ' 条记录 · suppressed: fewer than ' + k + ' records' }, '<' + k);
  }
  /** A ratio withheld because a part of it is suppressed: marked, never shown as "<k" (a count). */
  const RATIO_WITHHELD = 'n/a';
  function supRatio(k) {
    return h('span', { class: 'sup', 'data-withheld': 'ratio', title: '倍率不公布：分子或分母含已抑制单元格（少于 ' + k + ' 条记录） · ratio withheld: a part of it is suppressed (fewer than ' + k + ' records)' }, RATIO_WITHHELD);
  }
  /** A table cell holding a count, or the suppression mark. */
  function numTd(key, v, k) {
    if (v === null || v === undefined) return h('td', { class: 'num', 'data-k': key, 'data-value': 'suppressed' }, supCell(k));
    return h('td', { class: 'num', 'data-k': key, 'data-value': String(v) }, fmtInt(v));
  }
  function errorBox(e) {
    const text = e && e.status
      ? e.status + ' ' + (e.title || '') + (e.detail ? ': ' + e.detail : '') + (e.type ? ' [' + e.type + ']' : '')
      : String(e && e.message ? e.message : e);
    return h('div', { class: 'error', role: 'alert' }, text);
  }

  // ---------------------------------------------------------------- session
  const session = {
    get token() { return sessionStorage.getItem('pes.token') || ''; },
    set token(t) { if (t) sessionStorage.setItem('pes.token', t); else sessionStorage.removeItem('pes.token'); },
    claims() {
      const t = this.token;
      if (!t) return null;
      try {
        const p = t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
        const json = new TextDecoder().decode(PesMerkle.fromB64(p + '='.repeat((4 - (p.length % 4)) % 4)));
        return JSON.parse(json);
      } catch (e) { return null; }
    },
  };
  // { tokens: [...], gateways: [...] } when this gateway runs in `pesgw demo`: only the sign-in
  // page's role picker uses it; the federation comes from the members endpoint.
  let demo = null;

  function showWho() {
    const c = session.claims();
    const who = byId('who');
    fill(who, 
      h('span', { class: 'pill', id: 'who-text', 'data-role': c ? c.role : '' },
        c ? c.role + ' · ' + c.sub + ' · ' + regionName(c.region) : '未登录 · not signed in'),
      c ? h('button', { class: 'secondary', on: { click: () => { session.token = ''; showWho(); route(); } } }, '退出 Sign out') : null);
  }

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(status, p) {
      super((p && (p.detail || p.title)) || 'HTTP ' + status);
      this.status = status; this.type = p && p.type; this.title = p && p.title; this.detail = p && p.detail;
    }
  }
  async function api(path, opts) {
    const o = opts || {};
    const headers = { Accept: o.accept || 'application/json' };
    if (session.token) headers.Authorization = 'Bearer ' + session.token;
    if (o.body !== undefined) headers['Content-Type'] = 'application/json';
    const started = performance.now();
    const res = await fetch(path, {
      method: o.method || (o.body !== undefined ? 'POST' : 'GET'),
      headers, body: o.body !== undefined ? JSON.stringify(o.body) : undefined, cache: 'no-store',
    });
    const ms = performance.now() - started;
    if (!res.ok) {
      let p = null;
      try { p = await res.json(); } catch (e) { /* not a problem document */ }
      throw new ApiError(res.status, p);
    }
    if (o.raw) return { res, ms };
    const ct = res.headers.get('content-type') || '';
    const data = ct.includes('json') ? await res.json() : await res.text();
    return { data, ms, res };
  }
  // ---------------------------------------------------------------- federation
  // The federation as this gateway serves it from its signed trust list
  // (`GET /v1/federation/members`): which regions are members, their names, whether they answer
  // and how fresh their data is. Read again on every federated page, so a page shows what the
  // gateway knows now. Without `[federation]` the list is this gateway alone.
  let federation = { region: null, federated: false, list: [], byRegion: new Map() };
  async function loadFederation() {
    try {
      const { data } = await api('/v1/federation/members');
      const list = Array.isArray(data.members) ? data.members : [];
      federation = {
        region: data.region || null,
        federated: data.trust_list_version !== null && data.trust_list_version !== undefined,
        list, byRegion: new Map(list.map((m) => [m.region, m])),
      };
    } catch (e) {
      // A gateway without the endpoint answers for itself: pages fall back to a local answer.
      federation = { region: null, federated: false, list: [], byRegion: new Map() };
    }
    return federation;
  }
  /** Regions to ask: the provinces among the federation's members (none: this gateway alone). */
  function regionsToAsk() {
    return federation.federated ? federation.list.map((m) => m.region).filter((r) => PROV.has(r)) : [];
  }
  /** A region's display name: the trust list's, else the code table's. */
  function regionLabel(code) {
    const m = federation.byRegion.get(code);
    return m && m.name ? m.name : regionName(code);
  }
  const pad2 = (n) => String(n).padStart(2, '0');
  /** A time as HH:MM:SS (local), with the date when it is not today; '—' when unknown. */
  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    const hms = pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
    const now = new Date();
    return d.toDateString() === now.toDateString() ? hms
      : d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + hms;
  }
  /**
   * One status per region from the statuses of several answers to the same page: a region is
   * missing if any answer missed it (its first failure is kept); its data time is the one an
   * answer stated, else the last the members endpoint knows (marked "last known").
   */
  function mergeStatuses(...lists) {
    const by = new Map();
    for (const list of lists) {
      for (const r of list || []) {
        if (!r.region) continue;
        const prev = by.get(r.region);
        if (!prev || (prev.status === 'ok' && r.status !== 'ok')) by.set(r.region, Object.assign({}, r, { as_of: r.as_of || (prev && prev.as_of) || null }));
        else if (!prev.as_of && r.as_of) prev.as_of = r.as_of;
      }
    }
    for (const r of by.values()) {
      const m = federation.byRegion.get(r.region);
      if (!r.as_of && m && m.as_of) { r.as_of = m.as_of; r.as_of_known = true; }
      if (r.status !== 'ok' && !r.unreachable_since && m && m.unreachable_since) r.unreachable_since = m.unreachable_since;
    }
    return [...by.values()];
  }
  /** Why a region is missing, in Chinese and English: refused, or unreachable (since when). */
  function missingWhy(r) {
    if (r.status === 'denied') return ['拒绝查询', 'refused'];
    if (r.unreachable_since) {
      const t = fmtTime(r.unreachable_since);
      return ['自 ' + t + ' 起无法连接', 'unreachable since ' + t];
    }
    return ['无法连接', 'unreachable'];
  }
  const shortReason = (r) => {
    const why = r.detail ? String(r.detail) : r.status;
    return why.length > 90 ? why.slice(0, 89) + '…' : why;
  };
  /** The "partial" mark on a total computed without every region. */
  const partialMark = () => h('span', { class: 'partial', 'data-partial': 'true', title: '部分区域未应答，合计不完整 · some regions did not answer: totals are partial' }, '部分 partial');
  /**
   * The coverage of a page's federated answers: "N of M regions", each missing region named
   * with why and since when, a partial mark, and the time of each region's data.
   */
  function fedStatus(statuses) {
    const ok = statuses.filter((r) => r.status === 'ok');
    const missing = statuses.filter((r) => r.status !== 'ok');
    const complete = missing.length === 0;
    return h('div', { class: 'fedstatus' + (complete ? '' : ' incomplete'), 'data-complete': String(complete), role: complete ? null : 'status' },
      h('div', { class: 'cover' },
        h('b', {}, ok.length + ' / ' + statuses.length + ' 个区域已应答'), ' ',
        h('span', { class: 'en' }, ok.length + ' of ' + statuses.length + ' regions answered'),
        complete ? null : [' ', partialMark()]),
      missing.map((r) => {
        const [zh, en] = missingWhy(r);
        return h('div', { class: 'missing', 'data-missing-region': r.region, 'data-status': r.status },
          regionLabel(r.region) + '：' + zh + ' ', h('span', { class: 'en' }, en), ' (' + shortReason(r) + ')');
      }),
      statuses.length ? h('div', { class: 'asof' }, '数据时间 ', h('span', { class: 'en' }, 'data as of'), ': ',
        statuses.map((r, i) => [i ? ' · ' : '', h('span', { 'data-asof-region': r.region, 'data-as-of': r.as_of || '', title: r.as_of || '' },
          regionLabel(r.region) + ' ' + fmtTime(r.as_of) + (r.as_of && (r.status !== 'ok' || r.as_of_known) ? ' (最后已知 last known)' : ''))])) : null);
  }

  /** A per-region status of a federated answer (DESIGN section 5), with the fields pages read. */
  const regionStatus = (r) => ({
    region: r.region, status: r.status || 'ok',
    latency_ms: r.latency_ms !== undefined ? r.latency_ms : r.latency, receipt: r.receipt || null,
    detail: r.detail || null, unreachable_since: r.unreachable_since || null, as_of: r.as_of || null,
  });

  // ADAPTER (federation fan-out). DESIGN section 5: a fan-out answer lists every region asked
  // with status, latency, receipt, why it is missing and the time of its data. A local answer
  // (a gateway outside any federation) is read as one region that answered `ok`. Only this
  // function knows the difference.
  async function federatedQuery(body) {
    return federatedQueryIn(regionsToAsk(), body);
  }
  async function federatedQueryIn(regions, body) {
    const { data, ms } = await api('/v1/query', { body: Object.assign({ regions }, body) });
    const perRegion = Array.isArray(data.regions)
      ? data.regions.map(regionStatus)
      : [regionStatus({ region: data.region, status: 'ok', latency_ms: ms })];
    // Every region refusing the query is what a local gateway answers with an error: as
    // malformed (`bad-query`: a dimension it does not have yet) 400, by policy (a dataset its
    // policy does not list yet) 403. Pages show "no data" for the first, an error for the second.
    if (perRegion.length && perRegion.every((r) => r.status === 'denied')) {
      const malformed = perRegion.every((r) => /bad-query/.test(r.detail || ''));
      throw new ApiError(malformed ? 400 : 403, { title: malformed ? 'Bad query' : 'Refused',
        detail: 'every region refused this query (' + [...new Set(perRegion.map((r) => r.detail || 'denied'))].join(', ') + ')' });
    }
    // Merged fan-out cells say `includes_suppressed`; a cell with no count left is suppressed.
    const cells = (data.cells || []).map((c) => ({
      group: c.group || {}, count: c.count, sum: c.sum,
      suppressed: !!c.suppressed || (!!c.includes_suppressed && (c.count === null || c.count === undefined)),
    }));
    return { cells, k: data.k || 5, as_of: data.as_of, regions: perRegion, raw: data };
  }

  // Person lookup: `POST /v1/persons/lookup` with an ID number or a person_key, purpose and legal
  // basis; the answer has one entry per region asked: status, latency, found, the fields its
  // policy allows, and the receipt of the region's audit entry.
  async function personLookup(req) {
    const { data } = await api('/v1/persons/lookup', { body: req });
    return {
      person_key: data.person_key,
      receipt: data.receipt || null,
      complete: data.complete,
      regions: (data.regions || []).map((r) => Object.assign(regionStatus(r), { found: !!r.found, fields: r.fields || {} })),
    };
  }

  // ---------------------------------------------------------------- charts
  const ratioColor = (r) => (r === null || r === undefined ? '#e3e7ec'
    : r < 0.8 ? '#c0392b' : r < 1.0 ? '#e8a33d' : r < 1.2 ? '#9fcf8a' : r < 1.5 ? '#4a9c5d' : '#1f6b3a');
  const RATIO_LEGEND = [['<0.80', '#c0392b'], ['0.80–1.00', '#e8a33d'], ['1.00–1.20', '#9fcf8a'],
    ['1.20–1.50', '#4a9c5d'], ['≥1.50', '#1f6b3a'], ['无数据 no data', '#e3e7ec']];

  /**
   * Tile-grid map of the 34 provinces coloured by ratio. A region asked that did not answer is
   * hatched with a dashed red border; a province that is no member of the federation is blank;
   * `data-state` says which (`answered`, `missing`, `non-member`).
   */
  function tileMap(byRegion, k, statuses) {
    const W = 66; const H = 54; const G = 4;
    const status = new Map((statuses || []).map((r) => [r.region, r]));
    const svg = s('svg', { viewBox: '0 0 ' + (9 * W) + ' ' + (8 * H), width: '100%', role: 'group', 'aria-label': '各省求人倍率 vacancy-to-seeker ratio by province' });
    svg.append(s('defs', {}, s('pattern', { id: 'tile-missing', width: 8, height: 8, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
      s('rect', { width: 8, height: 8, fill: '#fbe9e7' }), s('line', { x1: 0, y1: 0, x2: 0, y2: 8, stroke: '#e6a39b', 'stroke-width': 3 }))));
    for (const [code, zh, en, row, col] of PROVINCES) {
      const d = byRegion.get(code);
      const st = status.get(code);
      const member = !!st || federation.byRegion.has(code) || !!d;
      const state = st && st.status !== 'ok' ? 'missing' : member ? 'answered' : 'non-member';
      const x = col * W; const y = row * H;
      const ratio = d && state === 'answered' ? d.ratio : null;
      let fill = d && d.suppressed && ratio === null ? '#f5ecd0' : ratioColor(ratio);
      let stroke = d ? '#8a97a6' : '#d0d6de';
      let label = !d ? '—' : ratio !== null ? fmtRatio(ratio) : d.suppressed ? RATIO_WITHHELD : '—';
      let title = zh + ' ' + en + (d ? ': 求人倍率 ratio ' + label : ': 无数据 no data');
      let ink = ratio !== null && (ratio < 0.8 || ratio >= 1.2) ? '#fff' : '#1d2733';
      const extra = {};
      if (state === 'missing') {
        const [wzh, wen] = missingWhy(st);
        fill = 'url(#tile-missing)'; stroke = '#b3261e'; label = '未应答'; ink = '#7f1d16';
        title = zh + ' ' + en + ': 未应答 not answering · ' + wzh + ' ' + wen + ' (' + shortReason(st) + ')';
        extra['stroke-dasharray'] = '5 3'; extra['stroke-width'] = 2;
      } else if (state === 'non-member') {
        fill = '#fbfcfd'; stroke = '#e3e7ec'; label = ''; ink = '#a3adb8';
        title = zh + ' ' + en + ': 非联邦成员 not a federation member';
        extra['stroke-dasharray'] = '2 3';
      }
      const tile = s('g', { 'data-region': code, 'data-state': state },
        s('title', {}, title),
        s('rect', Object.assign({ x: x + G / 2, y: y + G / 2, width: W - G, height: H - G, rx: 5, fill, stroke }, extra)),
        s('text', { x: x + W / 2, y: y + 21, 'text-anchor': 'middle', 'font-size': 13, fill: ink }, zh),
        s('text', { x: x + W / 2, y: y + 39, 'text-anchor': 'middle', 'font-size': 12, 'font-weight': 600, fill: ink }, label));
      // An answered tile is a link into the province's prefectures (focusable, Enter follows it).
      svg.append(state === 'answered' && d ? s('a', { href: hrefWith({ at: code }), 'data-drill': code, 'aria-label': title + ' · 下钻 drill down' }, tile) : tile);
    }
    return h('div', {}, svg, h('div', { class: 'legend' },
      RATIO_LEGEND.map(([l, c]) => h('span', {}, h('i', { class: 'sw', 'data-color': c }), l)),
      h('span', {}, h('i', { class: 'sw sw-missing' }), '未应答 not answering'),
      h('span', {}, h('i', { class: 'sw sw-nonmember' }), '非成员 not a member')));
  }

  /** Paired horizontal bars (vacancies, seekers) with the ratio at the right. */
  function pairedBars(rows, k) {
    const W = 1000; const rowH = 46; const left = 270; const right = 100;
    const max = Math.max(1, ...rows.flatMap((r) => [r.vac || 0, r.seek || 0]));
    // Room after the longest bar for its label, before the ratio column.
    const scale = (v) => ((W - left - right - 70) * v) / max;
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + (rows.length * rowH + 24), width: '100%', role: 'img', 'aria-label': '职业供需 supply and demand by occupation' });
    svg.append(s('text', { x: W - right + 10, y: 14, 'font-size': 12, fill: '#5b6775' }, '求人倍率 ratio'));
    rows.forEach((r, i) => {
      const y = 22 + i * rowH;
      const name = OCC[r.occ] || [r.occ, ''];
      svg.append(s('text', { x: 0, y: y + 14, 'font-size': 13, fill: '#1d2733' }, r.occ + ' ' + name[0]));
      svg.append(s('text', { x: 0, y: y + 31, 'font-size': 11, fill: '#5b6775' }, name[1]));
      const bar = (val, dy, color, what) => {
        if (val === null || val === undefined) {
          svg.append(s('text', { x: left, y: y + dy + 11, 'font-size': 12, fill: '#7a5c00', 'font-style': 'italic' }, what + ' <' + k + ' 已抑制 suppressed'));
          return;
        }
        svg.append(s('rect', { x: left, y: y + dy, width: Math.max(1, scale(val)), height: 15, fill: color }));
        svg.append(s('text', { x: left + scale(val) + 6, y: y + dy + 12, 'font-size': 12, fill: '#1d2733' }, fmtInt(val)));
      };
      bar(r.vac, 2, '#0b5cad', '岗位 vacancies');
      bar(r.seek, 20, '#e07b00', '求职 seekers');
      svg.append(s('text', { x: W - right + 10, y: y + 24, 'font-size': 16, 'font-weight': 650, fill: r.ratio === null ? '#7a5c00' : r.ratio >= 1 ? '#137a3a' : '#b3261e' },
        r.ratio === null ? (r.suppressed ? RATIO_WITHHELD : '—') : fmtRatio(r.ratio)));
    });
    return h('div', {}, svg, h('div', { class: 'legend' },
      h('span', {}, h('i', { class: 'sw', 'data-color': '#0b5cad' }), '岗位空缺 open vacancies'),
      h('span', {}, h('i', { class: 'sw', 'data-color': '#e07b00' }), '求职人数 active job seekers')));
  }

  /** Multi-series line chart over months. series: [{name, color, points: Map(month -> value|null)}]. */
  function lineChart(months, series, k, fmt) {
    const W = 1000; const H = 260; const L = 60; const B = 30; const T = 10;
    const vals = series.flatMap((sr) => [...sr.points.values()].filter((v) => v !== null));
    const max = Math.max(1, ...vals);
    const x = (i) => L + (months.length <= 1 ? 0 : ((W - L - 20) * i) / (months.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img', 'aria-label': '按月 by month' });
    for (let t = 0; t <= 4; t++) {
      const v = (max * t) / 4;
      svg.append(s('line', { x1: L, x2: W - 10, y1: y(v), y2: y(v), stroke: '#e3e7ec' }));
      svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6775' }, fmt ? fmt(v) : fmtInt(Math.round(v))));
    }
    const step = Math.max(1, Math.ceil(months.length / 12));
    months.forEach((m, i) => {
      if (i % step === 0) svg.append(s('text', { x: x(i), y: H - 10, 'text-anchor': 'middle', 'font-size': 11, fill: '#5b6775' }, m));
    });
    for (const sr of series) {
      let d = '';
      months.forEach((m, i) => {
        const v = sr.points.get(m);
        if (v === null || v === undefined) return;
        d += (d ? ' L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1);
      });
      if (d) svg.append(s('path', { d, fill: 'none', stroke: sr.color, 'stroke-width': 2 }));
      months.forEach((m, i) => {
        const v = sr.points.get(m);
        if (v === null && sr.points.has(m)) {
          svg.append(s('text', { x: x(i), y: H - B - 4, 'text-anchor': 'middle', 'font-size': 10, fill: '#7a5c00' }, '<' + k));
        }
      });
    }
    return h('div', {}, svg, h('div', { class: 'legend' },
      series.map((sr) => h('span', {}, h('i', { class: 'sw', 'data-color': sr.color }), sr.name))));
  }

  // Legend swatches take their colour from data-color through the CSSOM (allowed under CSP).
  function paintSwatches(root) {
    for (const el of root.querySelectorAll('i.sw[data-color]')) el.style.background = el.dataset.color;
  }

  // ---------------------------------------------------------------- view state in the URL
  // A view is `#/<page>?from=YYYY-MM&to=YYYY-MM&kg=<key group>&occ=<major group>&at=<province>.<prefecture>`,
  // so a link to it shows the same figures to whoever opens it (with their own token).
  function hashState() {
    const raw = location.hash.replace(/^#\/?/, '');
    const q = raw.indexOf('?');
    return { name: (q < 0 ? raw : raw.slice(0, q)) || 'overview', params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
  }
  /** The link to this page (or `name`) with some parameters changed (null or '' removes one). */
  function hrefWith(changes, name) {
    const st = hashState();
    const p = new URLSearchParams(st.params);
    for (const [k, v] of Object.entries(changes || {})) {
      if (v === null || v === undefined || v === '') p.delete(k); else p.set(k, v);
    }
    const qs = p.toString();
    return '#/' + (name || st.name) + (qs ? '?' + qs : '');
  }
  const MONTH_RE = /^\d{4}-(0[1-9]|1[0-2])$/;
  /** The filters of the view: month range, key group, occupation major group. */
  function filtersNow() {
    const p = hashState().params;
    const m = (v) => (v && MONTH_RE.test(v) ? v : '');
    const kg = p.get('kg') || '';
    const occ = p.get('occ') || '';
    return { from: m(p.get('from')), to: m(p.get('to')), kg: KEY_GROUPS.some((g) => g[0] === kg) ? kg : '', occ: /^[1-8]$/.test(occ) ? occ : '' };
  }
  /** The drill-down path: [] national, [province], [province, prefecture]. */
  function drillNow() {
    const at = (hashState().params.get('at') || '').split('.').filter((c) => /^\d{6}$/.test(c));
    if (at.length && !PROV.has(at[0])) return [];
    return at.slice(0, 2);
  }
  /**
   * What a page groups by and asks at the current drill level: provinces of the federation;
   * prefectures of one province (asking that province only); counties of one prefecture.
   */
  function scope() {
    const at = drillNow();
    const asked = regionsToAsk();
    const only = (code) => (asked.length ? [code] : []);
    if (at.length === 0) return { level: 'province', dim: 'province', regions: asked, filters: {}, at };
    if (at.length === 1) return { level: 'prefecture', dim: 'prefecture', regions: only(at[0]), filters: {}, at };
    return { level: 'county', dim: 'county', regions: only(at[0]), filters: { prefecture: [at[1]] }, at };
  }
  const DIM_ZH = { month: ['月份', 'month range'], key_group: ['重点群体', 'key group'], occupation_major: ['职业大类', 'occupation group'] };
  /**
   * A query with the view's filters applied where its dataset has the dimension; the filters it
   * lacks are listed in `ignored` (the page says so rather than pretending).
   */
  function withFilters(q) {
    const f = filtersNow();
    const dims = DIMS_OF[q.dataset] || [];
    const out = Object.assign({}, q, { filters: Object.assign({}, q.filters || {}) });
    const ignored = [];
    if (f.from || f.to) {
      if (dims.includes('month')) { if (f.from) out.date_from = f.from; if (f.to) out.date_to = f.to; } else ignored.push('month');
    }
    if (f.kg) { if (dims.includes('key_group')) out.filters.key_group = [f.kg]; else ignored.push('key_group'); }
    if (f.occ) { if (dims.includes('occupation_major')) out.filters.occupation_major = [f.occ]; else ignored.push('occupation_major'); }
    return { q: out, ignored };
  }
  /** The note listing filters some of a page's datasets cannot apply. */
  function ignoredNote(pairs) {
    const list = pairs.filter(([, ig]) => ig.length).map(([what, ig]) => what + '：' + ig.map((d) => DIM_ZH[d][0] + ' ' + DIM_ZH[d][1]).join('、'));
    return list.length ? h('p', { class: 'muted', 'data-ignored-filters': 'true' }, '以下数据集不含该维度，未按其筛选 not filtered (the dataset lacks the dimension): ' + list.join('；')) : null;
  }
  /** A federated query at the current drill level, with the view's filters. */
  function scopedQuery(sc, q, groupRest) {
    const { q: fq, ignored } = withFilters(Object.assign({}, q, { group_by: [sc.dim].concat(groupRest || []), filters: Object.assign({}, sc.filters, q.filters || {}) }));
    return federatedQueryIn(sc.regions, fq).then((a) => Object.assign(a, { ignored }));
  }

  // ---------------------------------------------------------------- division names
  // GB/T 2260 children from `GET /v1/divisions`, cached for the page's life.
  const divLists = new Map();
  const divNames = new Map();
  function divisionChildren(parent) {
    const key = parent || '';
    if (!divLists.has(key)) {
      divLists.set(key, api('/v1/divisions' + (parent ? '?parent=' + parent : '')).then(({ data }) => {
        for (const c of data.children || []) divNames.set(c.code, c);
        return data.children || [];
      }).catch(() => []));
    }
    return divLists.get(key);
  }
  /** Names of occupation codes, from `GET /v1/occupations` (filled by `nameOccupations`). */
  const occNames = new Map();
  /** Loads the names of these occupation codes in one request; a failure leaves group names. */
  async function nameOccupations(codes) {
    const todo = [...codes].filter((c) => /^\d(-\d\d){0,3}$/.test(c) && !occNames.has(c)).slice(0, 200);
    if (!todo.length) return;
    try {
      const { data } = await api('/v1/occupations?codes=' + encodeURIComponent(todo.join(',')));
      for (const o of data.known || []) occNames.set(o.code, o);
    } catch (e) { /* the major-group names below still apply */ }
  }
  /** Loads the names of these division codes (by their parents' lists). */
  async function nameDivisions(codes) {
    const parents = new Set();
    for (const c of codes) {
      if (!/^\d{6}$/.test(c) || divNames.has(c) || c.endsWith('0000')) continue;
      parents.add(c.endsWith('00') ? c.slice(0, 2) + '0000' : c.slice(0, 4) + '00');
    }
    await Promise.all([...parents].map(divisionChildren));
  }
  function divName(code) {
    if (code === 'none' || code === '' || code === null || code === undefined) return '未填写 not given';
    if (PROV.has(code)) return regionName(code);
    const d = divNames.get(code);
    return d ? d.name : String(code);
  }
  /** The mark of a rural or remote county (a county-level division of kind `county`). */
  const ruralMark = (code) => {
    const d = divNames.get(code);
    return d && d.rural ? h('span', { class: 'tag rural', 'data-rural': 'true', title: '县（农村、偏远地区） county: rural or remote' }, '农村 rural') : null;
  };

  /** Breadcrumbs of the drill-down: 全国 › province › prefecture, each a link but the last. */
  function breadcrumbs(sc) {
    const items = [['全国 National', hrefWith({ at: null })]];
    if (sc.at[0]) items.push([regionName(sc.at[0]), hrefWith({ at: sc.at[0] })]);
    if (sc.at[1]) items.push([divName(sc.at[1]), hrefWith({ at: sc.at.join('.') })]);
    return h('nav', { class: 'crumbs', 'aria-label': '层级 drill-down level', id: 'crumbs', 'data-level': sc.level },
      items.map(([label, href], i) => [i ? h('span', { class: 'sep', 'aria-hidden': 'true' }, ' › ') : null,
        i === items.length - 1 ? h('span', { 'aria-current': 'location' }, label) : h('a', { href }, label)]));
  }
  /** A link that drills into `code` from the current level (none below the county). */
  function drillLink(sc, code, label) {
    if (code === 'none' || sc.level === 'county') return h('span', {}, label);
    const at = sc.at.concat([code]).join('.');
    return h('a', { href: hrefWith({ at }), 'data-drill': code, title: '下钻 drill down' }, label);
  }

  /** The filter bar: month range, key group, occupation group; it writes them to the URL. */
  function filterBar(opts) {
    const f = filtersNow();
    const from = h('input', { type: 'month', name: 'from', value: f.from, id: 'f-from' });
    const to = h('input', { type: 'month', name: 'to', value: f.to, id: 'f-to' });
    const kg = h('select', { name: 'kg', id: 'f-kg' }, h('option', { value: '' }, '全部 all'),
      KEY_GROUPS.map(([c, zh, en]) => h('option', { value: c, selected: c === f.kg }, zh + ' ' + en)));
    const occ = h('select', { name: 'occ', id: 'f-occ' }, h('option', { value: '' }, '全部 all'),
      Object.entries(OCC).filter(([c]) => c !== 'none').map(([c, [zh, en]]) => h('option', { value: c, selected: c === f.occ }, c + ' ' + zh + ' ' + en)));
    const apply = (ev) => {
      ev.preventDefault();
      location.hash = hrefWith({ from: from.value, to: to.value, kg: kg.value, occ: occ.value });
    };
    const any = f.from || f.to || f.kg || f.occ;
    return h('form', { class: 'card filters', id: 'filters', role: 'search', 'aria-label': '筛选 filters', on: { submit: apply } },
      h('div', { class: 'row' },
        h('label', { for: 'f-from' }, bi('起始月份', 'From month'), from),
        h('label', { for: 'f-to' }, bi('截止月份', 'To month'), to),
        opts && opts.noKeyGroup ? null : h('label', { for: 'f-kg' }, bi('重点群体', 'Key group'), kg),
        opts && opts.noOcc ? null : h('label', { for: 'f-occ' }, bi('职业大类', 'Occupation group'), occ),
        h('button', { type: 'submit', id: 'filters-apply' }, '应用 Apply'),
        any ? h('a', { href: hrefWith({ from: null, to: null, kg: null, occ: null }), class: 'clear' }, '清除筛选 Clear') : null));
  }

  // ---------------------------------------------------------------- CSV export
  /** One CSV field (RFC 4180 quoting). */
  const csvField = (v) => {
    const t = v === null || v === undefined ? '' : String(v);
    return /[",\r\n]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t;
  };
  const cellText = (el) => el.textContent.replace(/\s+/g, ' ').trim();
  /**
   * A table as CSV for spreadsheets: a UTF-8 BOM, one header row (the bilingual column
   * names, then `suppressed 已抑制`), one row per table row (counts as plain numbers, a
   * suppressed count as `<k`, and the suppressed column naming the columns withheld), then a
   * blank row and a trailer of labelled rows: data as of per region, regions answered, regions
   * missing, k, filters and the time of export.
   */
  function tableCsv(table, meta) {
    const k = meta.k || 5;
    const heads = [...table.querySelectorAll('thead th')].map(cellText);
    const lines = [heads.concat(['suppressed 已抑制']).map(csvField).join(',')];
    for (const tr of table.querySelectorAll('tbody tr')) {
      const sup = [];
      const cells = [];
      [...tr.children].forEach((td, i) => {
        const v = td.getAttribute('data-value');
        if (v === 'suppressed') { cells.push('<' + k); sup.push(heads[i] || String(i)); } else if (v !== null && v !== '') cells.push(v);
        else cells.push(cellText(td));
        for (let j = 1; j < (Number(td.getAttribute('colspan')) || 1); j++) cells.push('');
      });
      while (cells.length < heads.length) cells.push('');
      lines.push(cells.concat([sup.join('; ')]).map(csvField).join(','));
    }
    const st = meta.statuses || [];
    const f = filtersNow();
    const trailer = [
      ['数据时间 data as of', st.map((r) => regionLabel(r.region) + ' (' + r.region + ') ' + (r.as_of || '—')).join('; ')],
      ['已应答区域 regions answered', st.filter((r) => r.status === 'ok').map((r) => regionLabel(r.region) + ' (' + r.region + ')').join('; ')],
      ['未应答区域 regions missing', st.filter((r) => r.status !== 'ok').map((r) => regionLabel(r.region) + ' (' + r.region + ') ' + r.status).join('; ') || '无 none'],
      ['抑制阈值 k', '少于 ' + k + ' 条记录的单元格记为 <' + k + ' · cells of fewer than ' + k + ' records are written <' + k],
      ['筛选 filters', [f.from && 'from ' + f.from, f.to && 'to ' + f.to, f.kg && 'key_group ' + f.kg, f.occ && 'occupation_major ' + f.occ].filter(Boolean).join('; ') || '无 none'],
      ['层级 level', drillNow().join(' › ') || '全国 national'],
      ['导出时间 exported at', new Date().toISOString()],
    ];
    lines.push('');
    for (const row of trailer) lines.push(row.map(csvField).join(','));
    return '\uFEFF' + lines.join('\r\n') + '\r\n';
  }
  /** A button that downloads the table `tableId` as CSV. `meta()` gives statuses and k. */
  function exportButton(tableId, name, meta) {
    return h('button', { type: 'button', class: 'secondary export', 'data-export': tableId, on: { click: () => {
      const table = byId(tableId);
      if (!table) return;
      const csv = tableCsv(table, meta());
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
      const a = h('a', { href: url, download: name + '-' + new Date().toISOString().slice(0, 10) + '.csv', hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } } }, '导出 CSV Export');
  }
  /** A card title with an export button at its right. */
  const cardHead = (zh, en, extra, button) => h('div', { class: 'cardhead' }, h('h3', {}, bi(zh, en), extra || null), button || null);
  /** "No data" for a card whose query the gateways do not answer yet. */
  function noData(e) {
    return h('div', { class: 'notice', 'data-nodata': 'true' }, '暂无数据 No data',
      e ? h('span', { class: 'muted' }, '（' + (e.status ? e.status + ' ' : '') + (e.detail || e.message || e) + '）') : null);
  }
  /** Chinese date: 2024年3月5日 (a month alone: 2024年3月). */
  function zhDate(v) {
    const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?/.exec(String(v));
    if (!m) return String(v);
    return m[1] + '年' + Number(m[2]) + '月' + (m[3] ? Number(m[3]) + '日' : '');
  }

  // ---------------------------------------------------------------- pages
  function needSignIn(body, roles) {
    const c = session.claims();
    if (!c) {
      fill(body, h('div', { class: 'notice' }, '请先登录。 Please sign in first: ', h('a', { href: '#/signin' }, '登录 Sign in')));
      return true;
    }
    if (roles && !roles.includes(c.role)) {
      fill(body, h('div', { class: 'notice' },
        '此页面需要角色 This page needs the role ' + roles.join(' / ') + '；当前 current: ' + c.role + '. ',
        h('a', { href: '#/signin' }, '切换角色 Switch role')));
      return true;
    }
    return false;
  }

  /** The label of a row key at a drill level: a province, a prefecture or a county name. */
  function placeLabel(sc, code) {
    if (sc.dim === 'province') return regionName(code);
    return [divName(code), code !== 'none' ? h('span', { class: 'code' }, ' ' + code) : null, sc.dim === 'county' ? [' ', ruralMark(code)] : null];
  }
  const LEVEL_ZH = { province: ['省份', 'Province'], prefecture: ['地市', 'Prefecture'], county: ['区县', 'County'] };
  /** Rows saying which regions did not answer. */
  const missingRowsOf = (statuses, cols, skip) => statuses.filter((r) => r.status !== 'ok' && !(skip && skip.has(r.region))).map((r) => h('tr', { 'data-region': r.region, 'data-state': 'missing', class: 'missing-row' },
    h('td', {}, regionName(r.region)), h('td', { class: 'bad', colspan: cols }, '未应答 no answer · ' + missingWhy(r)[1])));

  async function pageOverview() {
    const body = byId('overview-body');
    if (needSignIn(body, ['analyst', 'admin'])) return;
    try {
      await loadFederation();
      const sc = scope();
      await nameDivisions(sc.at);
      let seek; let vac;
      try {
        [seek, vac] = await Promise.all([
          scopedQuery(sc, { dataset: 'job_seeker_registration', measures: ['count'], filters: { status: ['active'] }, purpose: 'dashboard_overview' }),
          scopedQuery(sc, { dataset: 'vacancy', measures: ['count', 'sum'], filters: { status: ['open'] }, purpose: 'dashboard_overview' }),
        ]);
      } catch (e) {
        if (sc.level === 'province' || e.status !== 400) throw e;
        fill(body, filterBar(), breadcrumbs(sc), noData(e));
        return;
      }
      const D = sc.dim;
      const statuses = mergeStatuses(seek.regions, vac.regions);
      // A region missing from either answer is missing from the page: half of it would be wrong.
      const missing = new Set(statuses.filter((r) => r.status !== 'ok').map((r) => r.region));
      const complete = missing.size === 0;
      const k = seek.k;
      const byRegion = new Map();
      const get = (code) => {
        if (!byRegion.has(code)) byRegion.set(code, { seekers: null, vacancies: null, suppressed: false, ratio: null, seen: { s: false, v: false } });
        return byRegion.get(code);
      };
      const keyOf = (c) => c.group[D] || 'none';
      const skip = (c) => D === 'province' ? missing.has(c.group.province) : missing.size > 0;
      for (const c of seek.cells) {
        if (skip(c)) continue;
        const d = get(keyOf(c));
        d.seen.s = true;
        if (c.suppressed) d.suppressed = true; else d.seekers = c.count;
      }
      for (const c of vac.cells) {
        if (skip(c)) continue;
        const d = get(keyOf(c));
        d.seen.v = true;
        if (c.suppressed) d.suppressed = true; else d.vacancies = c.sum !== undefined && c.sum !== null ? c.sum : c.count;
      }
      // A region that answered but has no cell for one side has zero of it, not a suppressed cell.
      if (D === 'province') for (const r of statuses) if (r.status === 'ok') get(r.region);
      for (const d of byRegion.values()) {
        if (!d.seen.s && !d.suppressed) d.seekers = 0;
        if (!d.seen.v && !d.suppressed) d.vacancies = 0;
        d.ratio = d.seekers > 0 && d.vacancies !== null ? ratioOf(d.vacancies, d.seekers) : null;
      }
      if (D !== 'province') await nameDivisions([...byRegion.keys()]);
      const rows = [...byRegion.entries()].sort((a, b) => a[0].localeCompare(b[0]));
      const sum = (key) => rows.reduce((t, [, d]) => t + (d[key] || 0), 0);
      const anySup = rows.some(([, d]) => d.suppressed);
      const totS = sum('seekers'); const totV = sum('vacancies');
      const kpi = (v, zh, en, key) => h('div', { class: 'card kpi' },
        h('div', { class: 'v', 'data-kpi': key, 'data-partial': String(!complete) }, v),
        h('div', { class: 'l' }, bi(zh, en), complete ? null : [' ', partialMark()]));
      const [lzh, len] = LEVEL_ZH[D];
      const table = h('table', { id: 'overview-table', 'data-level': sc.level },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bi(lzh, len)), h('th', { class: 'num', scope: 'col' }, bi('求职', 'Seekers')),
          h('th', { class: 'num', scope: 'col' }, bi('岗位', 'Vacancies')), h('th', { class: 'num', scope: 'col' }, bi('倍率', 'Ratio')))),
        h('tbody', {}, rows.map(([code, d]) => h('tr', { 'data-region': code },
          h('td', {}, drillLink(sc, code, placeLabel(sc, code))), numTd('seekers', d.seekers, k), numTd('vacancies', d.vacancies, k),
          h('td', { class: 'num', 'data-k': 'ratio', 'data-value': d.ratio === null ? '' : String(d.ratio) },
            d.ratio === null ? (d.suppressed ? supRatio(k) : '—') : fmtRatio(d.ratio)))), missingRowsOf(statuses, 3)));
      const tableCard = h('div', { class: 'card' }, cardHead('分' + lzh + '数据', 'By ' + len.toLowerCase(), null, exportButton('overview-table', 'overview', () => ({ statuses, k }))),
        h('div', { class: 'scroll', tabindex: 0 }, table),
        rows.length ? null : h('p', { class: 'muted', 'data-nodata': 'true' }, '本级暂无数据 No data at this level.'),
        D !== 'county' && rows.length ? h('p', { class: 'muted' }, '点击名称下钻 Select a name to drill down.') : null);
      fill(body,
        filterBar(),
        breadcrumbs(sc),
        fedStatus(statuses),
        ignoredNote([['求职登记 seekers', seek.ignored], ['岗位 vacancies', vac.ignored]]),
        h('div', { class: 'grid g3' },
          kpi(fmtInt(totS) + (anySup ? '+' : ''), '登记求职人数', 'registered job seekers (active)', 'seekers'),
          kpi(fmtInt(totV) + (anySup ? '+' : ''), '岗位空缺数', 'open vacancies (openings)', 'vacancies'),
          // Totals without their suppressed cells make a ratio of two lower bounds: marked "≈".
          kpi(totS > 0 ? (anySup ? '≈' : '') + fmtRatio(ratioOf(totV, totS)) : '—', '求人倍率', 'vacancy-to-seeker ratio', 'ratio')),
        anySup ? h('p', { class: 'muted' }, '“+”：合计不含已抑制单元格 (<' + k + ')；“≈”：倍率由这些合计算出。 "+": totals exclude suppressed cells; "≈": the ratio is of those totals.') : null,
        complete ? null : h('p', { class: 'muted', 'data-partial-note': 'true' }, '“部分”：合计不含未应答的区域 ' + [...missing].map(regionLabel).join('、')
          + '。 "partial": the totals leave out the regions that did not answer.'),
        D === 'province'
          ? h('div', { class: 'grid g2' }, h('div', { class: 'card' }, h('h3', {}, bi('求人倍率地图', 'Ratio by province')), tileMap(byRegion, k, statuses)), tableCard)
          : tableCard);
      paintSwatches(body);
      performance.mark('pes:overview-data');
    } catch (e) {
      fill(body, errorBox(e));
    }
  }

  async function pageOccupations() {
    const body = byId('occupations-body');
    if (needSignIn(body, ['analyst', 'admin'])) return;
    try {
      // Without filters or drill-down: the supply-demand report. With them: the same figures
      // from two aggregate queries (open vacancies summed, active registrations counted).
      await loadFederation();
      const sc = scope();
      const f = filtersNow();
      await nameDivisions(sc.at);
      let data; let ignored = [];
      if (!sc.at.length && !f.from && !f.to && !f.kg && !f.occ) {
        const q = regionsToAsk().length ? '?regions=' + regionsToAsk().join(',') : '';
        data = (await api('/v1/reports/supply-demand' + q)).data;
      } else {
        let vac; let seek;
        try {
          [vac, seek] = await Promise.all([
            scopedQuery(sc, { dataset: 'vacancy', measures: ['count', 'sum'], filters: { status: ['open'] }, purpose: 'statistics' }, ['occupation_major']),
            scopedQuery(sc, { dataset: 'job_seeker_registration', measures: ['count'], filters: { status: ['active'] }, purpose: 'statistics' }, ['occupation_major']),
          ]);
        } catch (e) {
          if (e.status !== 400) throw e;
          fill(body, filterBar(), breadcrumbs(sc), noData(e));
          return;
        }
        ignored = [['岗位 vacancies', vac.ignored], ['求职登记 seekers', seek.ignored]];
        const by = new Map();
        const row = (c) => {
          const key = (c.group[sc.dim] || 'none') + '/' + (c.group.occupation_major || 'none');
          if (!by.has(key)) by.set(key, { region: c.group[sc.dim] || 'none', occupation_major: c.group.occupation_major || 'none', open_vacancies: 0, active_seekers: 0 });
          return by.get(key);
        };
        for (const c of vac.cells) row(c).open_vacancies = c.suppressed ? null : (c.sum !== undefined && c.sum !== null ? c.sum : c.count);
        for (const c of seek.cells) row(c).active_seekers = c.suppressed ? null : c.count;
        const rows = [...by.values()].sort((a, b) => (a.region + a.occupation_major).localeCompare(b.region + b.occupation_major));
        for (const r of rows) {
          r.suppressed = r.open_vacancies === null || r.active_seekers === null;
          r.ratio = !r.suppressed && r.active_seekers > 0 ? ratioOf(r.open_vacancies, r.active_seekers) : null;
        }
        if (sc.dim !== 'province') await nameDivisions(rows.map((r) => r.region));
        data = { rows, k: vac.k, regions: mergeStatuses(vac.regions, seek.regions) };
      }
      const k = data.k || 5;
      const statuses = mergeStatuses(Array.isArray(data.regions) ? data.regions.map(regionStatus)
        : [regionStatus({ region: federation.region || ((data.rows || [])[0] || {}).region, status: 'ok' })]);
      const complete = statuses.every((r) => r.status === 'ok');
      const merged = new Map();
      for (const r of data.rows || []) {
        const m = merged.get(r.occupation_major) || { occ: r.occupation_major, vac: 0, seek: 0, suppressed: false, vacSup: false, seekSup: false };
        if (r.open_vacancies === null || r.open_vacancies === undefined) m.vacSup = true; else m.vac += r.open_vacancies;
        if (r.active_seekers === null || r.active_seekers === undefined) m.seekSup = true; else m.seek += r.active_seekers;
        m.suppressed = m.suppressed || r.suppressed;
        merged.set(r.occupation_major, m);
      }
      const rows = [...merged.values()].sort((a, b) => String(a.occ).localeCompare(String(b.occ))).map((m) => ({
        occ: m.occ, suppressed: m.suppressed,
        // A total with a suppressed part is shown as suppressed when nothing else is known.
        vac: m.vacSup && m.vac === 0 ? null : m.vac,
        seek: m.seekSup && m.seek === 0 ? null : m.seek,
        partial: (m.vacSup && m.vac > 0) || (m.seekSup && m.seek > 0),
        ratio: !m.vacSup && !m.seekSup && m.seek > 0 ? ratioOf(m.vac, m.seek) : null,
      }));
      const regions = [...new Set((data.rows || []).map((r) => r.region))];
      const [lzh, len] = LEVEL_ZH[sc.dim];
      fill(body,
        filterBar(),
        breadcrumbs(sc),
        fedStatus(statuses),
        ignoredNote(ignored),
        h('div', { class: 'card' }, h('h3', {}, bi('按职业大类', 'By occupation major group'), complete ? null : [' ', partialMark()]), rows.length ? pairedBars(rows, k) : h('p', { class: 'muted', 'data-nodata': 'true' }, '暂无数据 No data')),
        h('div', { class: 'card' }, cardHead('明细', 'Rows by ' + len.toLowerCase(), null, exportButton('occupations-table', 'supply-demand', () => ({ statuses, k }))),
          h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: 'occupations-table' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bi(lzh, len)), h('th', { scope: 'col' }, bi('职业大类', 'Major group')),
              h('th', { class: 'num', scope: 'col' }, bi('岗位', 'Vacancies')), h('th', { class: 'num', scope: 'col' }, bi('求职', 'Seekers')), h('th', { class: 'num', scope: 'col' }, bi('倍率', 'Ratio')))),
            h('tbody', {}, (data.rows || []).map((r) => h('tr', { 'data-region': r.region, 'data-occ': r.occupation_major },
              h('td', {}, drillLink(sc, r.region, placeLabel(sc, r.region))), h('td', {}, r.occupation_major + ' ' + (OCC[r.occupation_major] || [''])[0]),
              numTd('vacancies', r.open_vacancies, k), numTd('seekers', r.active_seekers, k),
              h('td', { class: 'num', 'data-k': 'ratio', 'data-value': r.ratio === null || r.ratio === undefined ? '' : String(r.ratio) },
                r.ratio === null || r.ratio === undefined ? (r.suppressed ? supRatio(k) : '—') : fmtRatio(r.ratio)))),
            missingRowsOf(statuses, 4)))),
          h('p', { class: 'muted' }, regions.length + ' 个' + lzh + ' ' + len.toLowerCase() + ' · k = ' + k)));
      paintSwatches(body);
      // Across regions, at the national level: the jobs nobody reachable is looking for.
      if (regionsToAsk().length && !sc.at.length) body.append(await noTakersCard(regionsToAsk()));
    } catch (e) {
      fill(body, errorBox(e));
    }
  }

  /**
   * Open vacancies that no answering region has an active seeker for, by region and occupation
   * group (`GET /v1/reports/no-takers`; k-suppressed at each source).
   */
  async function noTakersCard(regions) {
    const box = h('div', { class: 'card', id: 'no-takers-card' });
    const title = ['无人应聘的岗位', 'Jobs with no takers'];
    try {
      const { data } = await api('/v1/reports/no-takers?regions=' + regions.join(','));
      await nameOccupations(data.rows.map((r) => r.occupation_group));
      const k = data.k || 5;
      const statuses = mergeStatuses((data.regions || []).map(regionStatus));
      fill(box, cardHead(title[0], title[1], null, data.rows.length ? exportButton('no-takers', 'no-takers', () => ({ statuses, k })) : null),
        h('p', { class: 'muted' }, '有空缺岗位、但任何已应答区域都没有该职业中类在册求职者的组合（按求职登记的第一意向职业）。 Open vacancies in an occupation group (中类) that no answering region has an active job seeker for (by the first occupation of each registration); ' +
          data.groups_with_vacancies + ' groups have vacancies.'),
        data.rows.length ? h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: 'no-takers' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bi('省份', 'Province')), h('th', { scope: 'col' }, bi('职业中类', 'Occupation group')),
            h('th', { class: 'num', scope: 'col' }, bi('岗位', 'Vacancies')), h('th', { class: 'num', scope: 'col' }, bi('招聘人数', 'Openings')))),
          h('tbody', {}, data.rows.map((r) => h('tr', { 'data-region': r.region, 'data-occ': r.occupation_group },
            h('td', {}, regionName(r.region)), h('td', {}, occName(r.occupation_group)),
            numTd('vacancies', r.vacancies, k), numTd('openings', r.openings, k)))))) : h('p', { class: 'muted', 'data-nodata': 'true' }, '没有：每个有空缺的职业中类都有求职者 None: every occupation group with vacancies has seekers somewhere'),
        data.complete ? null : h('p', { class: 'muted', 'data-partial': 'true' }, '部分区域未应答，它们可能有求职者。 Some regions did not answer; they may have takers.'));
    } catch (e) {
      fill(box, h('h3', {}, bi(title[0], title[1])), e.status === 400 || e.status === 403 ? noData(e) : errorBox(e));
    }
    return box;
  }

  async function pageGroups() {
    const body = byId('groups-body');
    if (needSignIn(body, ['analyst', 'admin'])) return;
    try {
      await loadFederation();
      const sc = scope();
      await nameDivisions(sc.at);
      const f = filtersNow();
      const groups = f.kg ? KEY_GROUPS.filter((g) => g[0] === f.kg) : KEY_GROUPS;
      const D = sc.dim;
      let people; let months;
      try {
        [people, months] = await Promise.all([
          scopedQuery(sc, { dataset: 'person', measures: ['count'], filters: { key_group: KEY_GROUPS.map((g) => g[0]) }, purpose: 'dashboard_key_groups' }, ['key_group']),
          scopedQuery(sc, { dataset: 'job_seeker_registration', measures: ['count'], filters: { key_group: KEY_GROUPS.map((g) => g[0]) }, purpose: 'dashboard_key_groups' }, ['key_group', 'month']),
        ]);
      } catch (e) {
        if (sc.level === 'province' || e.status !== 400) throw e;
        fill(body, filterBar(), breadcrumbs(sc), noData(e));
        return;
      }
      const k = people.k;
      const statuses = mergeStatuses(people.regions, months.regions);
      const complete = statuses.every((r) => r.status === 'ok');
      const table = new Map();
      for (const c of people.cells) {
        const key = c.group[D] || 'none';
        const row = table.get(key) || {};
        row[c.group.key_group] = c.suppressed ? null : c.count;
        table.set(key, row);
      }
      // New registrations per key group and month, one region at a time: a suppressed cell
      // stays suppressed (summing regions would hide which parts were < k).
      const monthSet = new Set();
      const perRegion = new Map(); // region -> key group -> month -> count | null
      for (const c of months.cells) {
        if (!c.group.month || c.group.month === 'none') continue;
        monthSet.add(c.group.month);
        const key = c.group[D] || 'none';
        const byGroup = perRegion.get(key) || new Map();
        const pts = byGroup.get(c.group.key_group) || new Map();
        pts.set(c.group.month, c.suppressed ? null : c.count);
        byGroup.set(c.group.key_group, pts);
        perRegion.set(key, byGroup);
      }
      if (D !== 'province') await nameDivisions([...table.keys(), ...perRegion.keys()]);
      const monthList = [...monthSet].sort().slice(-24);
      const volume = (code) => [...perRegion.get(code).values()].reduce((t, pts) => t + [...pts.values()].reduce((u, v) => u + (v || 0), 0), 0);
      const monthRegions = [...perRegion.keys()].sort((a, b) => volume(b) - volume(a));
      const chartBox = h('div', { id: 'groups-months' });
      const drawMonths = (code) => {
        const byGroup = perRegion.get(code) || new Map();
        const series = groups.map(([g, zh, en, color]) => ({ name: zh + ' ' + en, color, points: byGroup.get(g) || new Map() }));
        fill(chartBox, lineChart(monthList, series, k));
        paintSwatches(chartBox);
      };
      const label = (code) => (D === 'province' ? regionName(code) : divName(code));
      const regionSelect = h('select', { id: 'groups-months-region' },
        monthRegions.map((code) => h('option', { value: code }, label(code))));
      regionSelect.addEventListener('change', () => drawMonths(regionSelect.value));
      const regions = [...table.keys()].sort();
      const [lzh, len] = LEVEL_ZH[D];
      fill(body,
        filterBar({ noOcc: false }),
        breadcrumbs(sc),
        fedStatus(statuses),
        ignoredNote([['人员 persons', people.ignored], ['求职登记 registrations', months.ignored]]),
        h('div', { class: 'card' }, cardHead('各' + lzh + '重点群体人数', 'People in each key group by ' + len.toLowerCase(), complete ? null : [' ', partialMark()], exportButton('groups-table', 'key-groups', () => ({ statuses, k }))),
          h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: 'groups-table' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bi(lzh, len)), groups.map(([, zh, en]) => h('th', { class: 'num', scope: 'col' }, bi(zh, en))))),
            h('tbody', {}, regions.map((code) => h('tr', { 'data-region': code }, h('td', {}, drillLink(sc, code, placeLabel(sc, code))),
              groups.map(([g]) => (g in table.get(code) ? numTd(g, table.get(code)[g], k) : h('td', { class: 'num', 'data-k': g, 'data-value': '0' }, '0'))))),
            missingRowsOf(statuses, groups.length, D === 'province' ? new Set(table.keys()) : null)))),
          h('p', { class: 'muted' }, '一人可属于多个群体。 A person counts once in each of their groups.')),
        h('div', { class: 'card' }, h('h3', {}, bi('重点群体按月新增求职登记', 'New job-seeker registrations by key group and month')),
          monthList.length ? h('div', {}, h('label', {}, bi('区域', 'Region'), regionSelect), chartBox) : h('p', { class: 'muted' }, '无按月数据 no monthly data'),
          h('p', { class: 'muted' }, '登记按其人员的重点群体计（人员与登记同批推送）。 A registration counts under the key groups of its person, as pushed in the same batch.')));
      if (monthList.length) drawMonths(monthRegions[0]);
      paintSwatches(body);
    } catch (e) {
      fill(body, errorBox(e));
    }
  }

  /** Monthly seekers (new registrations), vacancies (openings posted) and their ratio per region. */
  async function pageTrends() {
    const body = byId('trends-body');
    if (needSignIn(body, ['analyst', 'admin'])) return;
    try {
      await loadFederation();
      const sc = scope();
      await nameDivisions(sc.at);
      let seek; let vac;
      try {
        [seek, vac] = await Promise.all([
          scopedQuery(sc, { dataset: 'job_seeker_registration', measures: ['count'], purpose: 'statistics' }, ['month']),
          scopedQuery(sc, { dataset: 'vacancy', measures: ['count', 'sum'], purpose: 'statistics' }, ['month']),
        ]);
      } catch (e) {
        if (sc.level === 'province' || e.status !== 400) throw e;
        fill(body, filterBar(), breadcrumbs(sc), noData(e));
        return;
      }
      const D = sc.dim;
      const k = seek.k;
      const statuses = mergeStatuses(seek.regions, vac.regions);
      const by = new Map(); // place -> month -> {s, v}
      const monthSet = new Set();
      const at = (c) => {
        const key = c.group[D] || 'none';
        if (!by.has(key)) by.set(key, new Map());
        const m = by.get(key);
        if (!m.has(c.group.month)) m.set(c.group.month, { s: 0, v: 0 });
        monthSet.add(c.group.month);
        return m.get(c.group.month);
      };
      for (const c of seek.cells) if (c.group.month && c.group.month !== 'none') at(c).s = c.suppressed ? null : c.count;
      for (const c of vac.cells) if (c.group.month && c.group.month !== 'none') at(c).v = c.suppressed ? null : (c.sum !== undefined && c.sum !== null ? c.sum : c.count);
      if (D !== 'province') await nameDivisions([...by.keys()]);
      const monthList = [...monthSet].sort();
      const places = [...by.keys()].sort();
      const volume = (code) => [...by.get(code).values()].reduce((t, p) => t + (p.s || 0) + (p.v || 0), 0);
      const busiest = places.slice().sort((a, b) => volume(b) - volume(a))[0];
      const label = (code) => (D === 'province' ? regionName(code) : divName(code));
      const ratio = (p) => (p && p.s !== null && p.v !== null && p.s > 0 ? ratioOf(p.v, p.s) : null);
      const chartBox = h('div', { id: 'trends-chart' });
      const ratioBox = h('div', { id: 'trends-ratio' });
      const draw = (code) => {
        const m = by.get(code) || new Map();
        const pts = (fn) => new Map(monthList.map((mo) => [mo, m.has(mo) ? fn(m.get(mo)) : 0]));
        fill(chartBox, lineChart(monthList, [
          { name: '新增求职登记 new seekers', color: '#e07b00', points: pts((p) => p.s) },
          { name: '新增岗位空缺 new vacancies (openings)', color: '#0b5cad', points: pts((p) => p.v) }], k));
        // A month with a suppressed part has no ratio (marked); one with no seekers has none at all.
        const ratios = new Map();
        for (const mo of monthList) {
          const p = m.get(mo);
          if (p && (p.s === null || p.v === null)) ratios.set(mo, null);
          else if (p && p.s > 0) ratios.set(mo, ratio(p));
        }
        fill(ratioBox, lineChart(monthList, [{ name: '求人倍率 vacancy-to-seeker ratio', color: '#137a3a', points: ratios }], k, fmtRatio));
        paintSwatches(chartBox); paintSwatches(ratioBox);
      };
      const select = h('select', { id: 'trends-region' }, places.map((c) => h('option', { value: c, selected: c === busiest }, label(c))));
      select.addEventListener('change', () => draw(select.value));
      const [lzh, len] = LEVEL_ZH[D];
      const rows = [];
      for (const p of places) {
        for (const mo of monthList) {
          const v = (by.get(p).get(mo)) || { s: 0, v: 0 };
          const r = ratio(v);
          rows.push(h('tr', { 'data-region': p, 'data-month': mo }, h('td', {}, drillLink(sc, p, placeLabel(sc, p))), h('td', {}, mo),
            numTd('seekers', v.s, k), numTd('vacancies', v.v, k),
            h('td', { class: 'num', 'data-k': 'ratio', 'data-value': r === null ? '' : String(r) }, r === null ? (v.s === null || v.v === null ? supRatio(k) : '—') : fmtRatio(r))));
        }
      }
      fill(body,
        filterBar(),
        breadcrumbs(sc),
        fedStatus(statuses),
        ignoredNote([['求职登记 seekers', seek.ignored], ['岗位 vacancies', vac.ignored]]),
        places.length ? h('div', { class: 'card' }, h('h3', {}, bi('按月供需', 'Supply and demand by month')),
          h('label', {}, bi(lzh, len), select), chartBox, h('h3', {}, bi('求人倍率', 'Vacancy-to-seeker ratio')), ratioBox,
          h('p', { class: 'muted' }, '求职：当月新增登记；岗位：当月发布的岗位数（按招聘人数）。 Seekers: registrations made in the month; vacancies: openings posted in the month.'))
          : h('div', { class: 'card' }, noData()),
        h('div', { class: 'card' }, cardHead('按月明细', 'Monthly rows', null, exportButton('trends-table', 'trends', () => ({ statuses, k }))),
          h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: 'trends-table' },
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bi(lzh, len)), h('th', { scope: 'col' }, bi('月份', 'Month')), h('th', { class: 'num', scope: 'col' }, bi('求职', 'Seekers')),
              h('th', { class: 'num', scope: 'col' }, bi('岗位', 'Vacancies')), h('th', { class: 'num', scope: 'col' }, bi('倍率', 'Ratio')))),
            h('tbody', {}, rows, missingRowsOf(statuses, 4))))));
      if (places.length) draw(busiest);
      paintSwatches(body);
    } catch (e) {
      fill(body, errorBox(e));
    }
  }

  /** The month `days` days before today, `YYYY-MM`. */
  function monthDaysAgo(days) {
    const d = new Date(Date.now() - days * 86400000);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1);
  }
  /**
   * One card of the coverage page from one query: a table of rows × columns. A query the
   * gateways cannot answer yet (an unknown dataset or dimension: 400) shows "no data".
   */
  async function coverageCard(o) {
    const box = h('div', { class: 'card', id: o.id + '-card' });
    try {
      const a = await o.query();
      o.onAnswer && o.onAnswer(a);
      const rowKeys = [...new Set(a.cells.map((c) => c.group[o.rows] || 'none'))].sort();
      const colKeys = o.cols ? (o.colOrder || []).concat([...new Set(a.cells.map((c) => c.group[o.cols] || 'none'))].filter((c) => !(o.colOrder || []).includes(c)).sort()) : ['count'];
      const val = new Map(a.cells.map((c) => [(c.group[o.rows] || 'none') + '|' + (o.cols ? c.group[o.cols] || 'none' : 'count'), c.suppressed ? null : c.count]));
      if (o.names) await o.names(rowKeys);
      const shownCols = o.cols ? colKeys.filter((c) => o.colOrder && o.colOrder.includes(c) ? true : a.cells.some((x) => (x.group[o.cols] || 'none') === c)) : colKeys;
      fill(box, cardHead(o.zh, o.en, null, rowKeys.length ? exportButton(o.id, o.id, () => ({ statuses: a.regions, k: a.k })) : null),
        ignoredNote([[o.zh, a.ignored || []]]),
        rowKeys.length ? h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: o.id },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bi(o.rowHead[0], o.rowHead[1])),
            shownCols.map((c) => h('th', { class: 'num', scope: 'col' }, o.colLabel ? o.colLabel(c) : c)))),
          h('tbody', {}, rowKeys.map((r) => h('tr', { 'data-key': r }, h('td', {}, o.rowLabel ? o.rowLabel(r) : r),
            shownCols.map((c) => {
              const key = r + '|' + c;
              return val.has(key) ? numTd(c, val.get(key), a.k) : h('td', { class: 'num', 'data-k': c, 'data-value': '0' }, '0');
            })))))) : h('p', { class: 'muted', 'data-nodata': 'true' }, '暂无数据 No data'),
        o.note ? h('p', { class: 'muted' }, o.note) : null);
      return { box, answer: a };
    } catch (e) {
      if (e.status !== 400 && e.status !== 403) fill(box, h('h3', {}, bi(o.zh, o.en)), errorBox(e));
      else fill(box, h('h3', {}, bi(o.zh, o.en)), noData(e));
      return { box, answer: null };
    }
  }

  /**
   * Grassroots coverage of one province (the drill-down's, else the first member): stations
   * and gig markets per county, the counties with no station or no service in the last 90
   * days, and, across the federation, services by station kind, month, kind and outcome,
   * platform work by type and training by outcome. Every figure is k-suppressed at its source.
   */
  async function pageCoverage() {
    const body = byId('coverage-body');
    if (needSignIn(body, ['analyst', 'admin'])) return;
    try {
      await loadFederation();
      const asked = regionsToAsk();
      const at = drillNow();
      const prov = at[0] || asked[0] || federation.region || '';
      const only = prov && asked.length ? [prov] : [];
      const kindCol = (c) => (STATION_KINDS.find((s) => s[0] === c) ? bi(codeZh(c), STATION_KINDS.find((s) => s[0] === c)[2]) : codeZh(c));
      const countyLabel = (c) => [divName(c), h('span', { class: 'code' }, ' ' + c), ' ', ruralMark(c)];
      const q = (regions, body2) => {
        const { q: fq, ignored } = withFilters(body2);
        return federatedQueryIn(regions, fq).then((a) => Object.assign(a, { ignored }));
      };
      const statusLists = [];
      const keep = (a) => statusLists.push(a.regions);
      // Counties of the province, from the division list (prefectures, then their counties).
      const countiesP = (async () => {
        const prefs = await divisionChildren(prov);
        const lists = await Promise.all(prefs.map((p) => divisionChildren(p.code)));
        return lists.flat().filter((c) => c.level === 'county');
      })();
      const stationsCells = [];
      const recent = monthDaysAgo(90);
      let recentCells = null;
      const cards = await Promise.all([
        coverageCard({ id: 'coverage-stations', zh: '各区县服务站点与零工市场', en: 'Stations and gig markets per county · ' + regionName(prov), rows: 'county', cols: 'station_kind', colOrder: STATION_KINDS.map((s) => s[0]),
          rowHead: ['区县', 'County'], rowLabel: countyLabel, colLabel: kindCol, names: (keys) => nameDivisions(keys),
          query: () => federatedQueryIn(only, { dataset: 'service_station', measures: ['count'], group_by: ['county', 'station_kind'], filters: { status: ['operating'] }, purpose: 'statistics' }),
          onAnswer: (a) => { keep(a); stationsCells.push(...a.cells); } }),
        (async () => {
          try {
            const a = await federatedQueryIn(only, { dataset: 'service_event', measures: ['count'], group_by: ['county'], date_from: recent, purpose: 'statistics' });
            keep(a); recentCells = a.cells;
          } catch (e) { recentCells = null; }
          return null;
        })(),
        coverageCard({ id: 'coverage-events-kind-month', zh: '按站点类型和月份的服务人次', en: 'Service events by station kind and month', rows: 'month', cols: 'station_kind', colOrder: STATION_KINDS.map((s) => s[0]),
          rowHead: ['月份', 'Month'], colLabel: kindCol,
          query: () => q(asked, { dataset: 'service_event', measures: ['count'], group_by: ['station_kind', 'month'], purpose: 'statistics' }), onAnswer: keep }),
        coverageCard({ id: 'coverage-services', zh: '按服务类型和结果', en: 'Services by kind and outcome', rows: 'status', cols: 'outcome',
          rowHead: ['服务类型', 'Service kind'], rowLabel: (c) => [codeZh(c), h('span', { class: 'code' }, ' ' + c)], colLabel: (c) => [codeZh(c), h('span', { class: 'code' }, ' ' + c)],
          query: () => q(asked, { dataset: 'service_event', measures: ['count'], group_by: ['status', 'outcome'], purpose: 'statistics' }), onAnswer: keep }),
        coverageCard({ id: 'coverage-platform', zh: '平台就业（按平台类型）', en: 'Platform work by type', rows: 'province', cols: 'status',
          rowHead: ['省份', 'Province'], rowLabel: regionName, colLabel: (c) => [codeZh(c), h('span', { class: 'code' }, ' ' + c)],
          query: () => q(asked, { dataset: 'platform_work', measures: ['count'], group_by: ['province', 'status'], purpose: 'statistics' }), onAnswer: keep }),
        coverageCard({ id: 'coverage-training', zh: '职业培训（按结果）', en: 'Training by outcome', rows: 'province', cols: 'status',
          rowHead: ['省份', 'Province'], rowLabel: regionName, colLabel: (c) => [codeZh(c), h('span', { class: 'code' }, ' ' + c)],
          query: () => q(asked, { dataset: 'training_record', measures: ['count'], group_by: ['province', 'status'], purpose: 'statistics' }), onAnswer: keep }),
      ]);
      const counties = await countiesP;
      // A county with a cell (even a suppressed one: 1 to k-1 records) has some.
      const has = (cells) => new Set((cells || []).filter((c) => c.suppressed || c.count > 0).map((c) => c.group.county));
      const withStation = has(stationsCells);
      const withService = recentCells ? has(recentCells) : null;
      const stationsKnown = !!cards[0].answer;
      const gapRows = counties.filter((c) => (stationsKnown && !withStation.has(c.code)) || (withService && !withService.has(c.code)));
      const gapMap = h('div', { class: 'countymap', id: 'coverage-map', role: 'list', 'aria-label': '区县覆盖 county coverage' },
        counties.map((c) => {
          const noSt = stationsKnown && !withStation.has(c.code);
          const noSv = withService && !withService.has(c.code);
          const state = !stationsKnown && !withService ? 'unknown' : noSt || noSv ? 'gap' : 'covered';
          return h('div', { role: 'listitem', class: 'county ' + state + (c.rural ? ' rural' : ''), 'data-county': c.code, 'data-state': state, 'data-rural': String(!!c.rural),
            title: c.name + ' ' + c.code + (c.rural ? ' · 农村 rural' : '') + (noSt ? ' · 无站点 no station' : '') + (noSv ? ' · 90 天无服务 no service in 90 days' : '') },
          c.name, c.rural ? h('span', { class: 'rmark', 'aria-hidden': 'true' }, ' ▲') : null);
        }));
      const gaps = h('div', { class: 'card', id: 'coverage-gaps-card' },
        cardHead('覆盖缺口', 'Coverage gaps · ' + regionName(prov), null, exportButton('coverage-gaps', 'coverage-gaps', () => ({ statuses: mergeStatuses(...statusLists), k: cards[0].answer ? cards[0].answer.k : 5 }))),
        h('p', { class: 'muted' }, '没有运营中站点，或最近 90 天（自 ' + recent + ' 起）没有服务记录的区县；▲ 为县（农村、偏远地区），按 GB/T 2260 代码区分市辖区、县级市和县。 Counties with no operating station, or no service event since ' + recent + ' (the last 90 days); ▲ marks counties (rural or remote), told apart from districts and county-level cities by their GB/T 2260 code.'),
        stationsKnown || withService ? null : noData(),
        counties.length ? gapMap : null,
        h('div', { class: 'legend' }, h('span', {}, h('i', { class: 'sw', 'data-color': '#e7f5ec' }), '已覆盖 covered'), h('span', {}, h('i', { class: 'sw', 'data-color': '#fdecea' }), '缺口 gap'), h('span', {}, '▲ 农村 rural')),
        h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: 'coverage-gaps' },
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, bi('区县', 'County')), h('th', { scope: 'col' }, bi('类别', 'Kind')), h('th', { scope: 'col' }, bi('无站点', 'No station')), h('th', { scope: 'col' }, bi('90 天无服务', 'No service in 90 days')))),
          h('tbody', {}, gapRows.map((c) => h('tr', { 'data-county': c.code, 'data-rural': String(!!c.rural) },
            h('td', {}, c.name, h('span', { class: 'code' }, ' ' + c.code)),
            h('td', {}, c.kind === 'district' ? '市辖区 district' : c.kind === 'county_city' ? '县级市 county-level city' : '县 county (农村 rural)'),
            h('td', { 'data-k': 'no_station', 'data-value': stationsKnown ? String(!withStation.has(c.code)) : '' }, !stationsKnown ? '—' : withStation.has(c.code) ? '' : '是 yes'),
            h('td', { 'data-k': 'no_service', 'data-value': withService ? String(!withService.has(c.code)) : '' }, !withService ? '—' : withService.has(c.code) ? '' : '是 yes')))))));
      const provSelect = h('select', { id: 'coverage-province' }, asked.map((r) => h('option', { value: r, selected: r === prov }, regionName(r))));
      provSelect.addEventListener('change', () => { location.hash = hrefWith({ at: provSelect.value }); });
      fill(body,
        filterBar({ noKeyGroup: true }),
        breadcrumbs({ level: 'province', at: at.slice(0, 1) }),
        fedStatus(mergeStatuses(...statusLists)),
        asked.length ? h('div', { class: 'row' }, h('label', {}, bi('区县明细的省份', 'Province for the county view'), provSelect)) : null,
        h('div', { class: 'grid g2' }, cards[0].box, gaps),
        cards[2].box, h('div', { class: 'grid g2' }, cards[3].box, cards[4].box), cards[5].box);
      paintSwatches(body);
    } catch (e) {
      fill(body, errorBox(e));
    }
  }

  /** Parses a signed checkpoint note (C2SP tlog-checkpoint + signed-note). */
  function parseCheckpoint(text) {
    const split = text.indexOf('\n\n');
    if (split < 0) throw new Error('checkpoint has no blank line before its signatures');
    const bodyText = text.slice(0, split + 1);
    const lines = bodyText.split('\n');
    const sigs = text.slice(split + 2).split('\n').filter((l) => l.startsWith('\u2014 ')).map((l) => {
      const rest = l.slice(2);
      const sp = rest.lastIndexOf(' ');
      const name = rest.slice(0, sp);
      const raw = PesMerkle.fromB64(rest.slice(sp + 1));
      const keyid = Array.from(raw.slice(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
      let time = null;
      if (raw.length === 4 + 8 + 64) {
        let t = 0n;
        for (const b of raw.slice(4, 12)) t = (t << 8n) | BigInt(b);
        time = new Date(Number(t) * 1000);
      }
      return { name, keyid, raw, time, cosignature: raw.length === 76 };
    });
    return { origin: lines[0], size: Number(lines[1]), root: lines[2], body: bodyText, sigs, text };
  }

  /** Checks the log's Ed25519 signature of a checkpoint with WebCrypto; null when unsupported. */
  async function checkLogSignature(cp, keyLine) {
    // Verifier key: <name>+<keyid hex>+base64(0x01 || public key).
    // The name has no '+', the key id is 8 hex digits; the base64 key may itself hold '+'.
    const line = keyLine.trim();
    const a = line.indexOf('+');
    const name = line.slice(0, a); const keyid = line.slice(a + 1, a + 9); const keyB64 = line.slice(a + 10);
    if (a <= 0 || line[a + 9] !== '+' || !/^[0-9a-f]{8}$/.test(keyid)) return { ok: false, why: 'malformed verifier key' };
    const key = PesMerkle.fromB64(keyB64);
    if (key[0] !== 0x01 || key.length !== 33) return { ok: false, why: 'verifier key is not Ed25519' };
    const sig = cp.sigs.find((g) => g.name === name && g.keyid === keyid && !g.cosignature);
    if (!sig) return { ok: false, why: 'no signature by ' + name + ' (' + keyid + ')' };
    let pub;
    try {
      pub = await crypto.subtle.importKey('raw', key.slice(1), { name: 'Ed25519' }, false, ['verify']);
    } catch (e) {
      return null; // this browser has no Ed25519 in WebCrypto
    }
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, pub, sig.raw.slice(4), new TextEncoder().encode(cp.body));
    return { ok, why: ok ? 'Ed25519 signature by ' + name + ' verified' : 'bad signature by ' + name };
  }

  function checkpointCard(cp, sigCheck) {
    return h('div', { class: 'card', id: 'checkpoint-card' },
      h('h3', {}, bi('最新检查点', 'Latest checkpoint')),
      h('table', {}, h('tbody', {},
        h('tr', {}, h('th', {}, 'origin'), h('td', { class: 'mono' }, cp.origin)),
        h('tr', {}, h('th', {}, bi('大小', 'size')), h('td', { 'data-k': 'size' }, fmtInt(cp.size))),
        h('tr', {}, h('th', {}, bi('根哈希', 'root')), h('td', { class: 'mono' }, cp.root)),
        h('tr', {}, h('th', {}, bi('签名', 'signature')), h('td', { class: sigCheck === null ? 'warn' : sigCheck && sigCheck.ok ? 'ok' : 'bad' },
          sigCheck === null ? '浏览器不支持 Ed25519，未校验 not checked (no Ed25519 in this browser)' : sigCheck ? sigCheck.why : '—')))),
      h('h3', {}, bi('签名与联署', 'Signatures and cosignatures')),
      h('table', { id: 'cosig-table' }, h('thead', {}, h('tr', {}, h('th', {}, bi('签名者', 'Signer')), h('th', {}, 'key id'), h('th', {}, bi('类型', 'Kind')), h('th', {}, bi('时间', 'Time')))),
        h('tbody', {}, cp.sigs.map((g) => h('tr', {}, h('td', { class: 'mono' }, g.name), h('td', { class: 'mono' }, g.keyid),
          h('td', {}, g.cosignature ? '联署 cosignature' : '日志签名 log signature'), h('td', {}, g.time ? g.time.toISOString() : '—'))))),
      cp.sigs.filter((g) => g.cosignature).length === 0 ? h('p', { class: 'muted' }, '尚无联署（见证方尚未签署）。 No cosignatures yet (no witness has cosigned).') : null);
  }

  async function pageHealth() {
    const body = byId('health-body');
    if (needSignIn(body)) return;
    const c = session.claims();
    const cards = [];
    // Own gateway: liveness and readiness with measured latency.
    const probe = async (path) => {
      const t = performance.now();
      try {
        const r = await fetch(path, { cache: 'no-store' });
        return { ok: r.ok, status: r.status, ms: performance.now() - t };
      } catch (e) { return { ok: false, status: 0, ms: performance.now() - t }; }
    };
    const [live, ready] = await Promise.all([probe('/healthz'), probe('/readyz')]);
    // Regions: the federation's members as this gateway knows them (signed trust list, last
    // answer, outage, data time, the last checkpoint each member's witness cosigned).
    await loadFederation();
    const reach = (m) => (m.reachable === 'yes' ? ['ok', '正常 up'] : m.reachable === 'no' ? ['bad', '无法连接 down'] : ['warn', '未知 unknown']);
    const rows = federation.list.map((m) => {
      const [cls, text] = reach(m);
      const f = m.last_failure;
      return h('tr', { 'data-region': m.region, 'data-reachable': m.reachable },
        h('td', {}, regionLabel(m.region), m.this_gateway ? h('span', { class: 'muted' }, ' (本网关 this gateway)') : null),
        h('td', { class: cls }, text, m.unreachable_since ? ' · since ' + fmtTime(m.unreachable_since) : '',
          f && m.reachable === 'no' ? h('div', { class: 'muted why', title: f.detail || f.status }, shortReason(f)) : null),
        h('td', { class: 'num' }, m.latency_ms !== undefined && m.latency_ms !== null ? Number(m.latency_ms).toFixed(1) + ' ms' : '—'),
        h('td', { 'data-k': 'last_answer' }, m.this_gateway ? '—' : fmtTime(m.last_answer)),
        h('td', { 'data-k': 'as_of', 'data-as-of': m.as_of || '' }, fmtTime(m.as_of)),
        h('td', {}, m.last_checkpoint ? fmtInt(m.last_checkpoint.size) + ' @ ' + fmtTime(m.last_checkpoint.at) : '—'));
    });
    cards.push(h('div', { class: 'card' }, h('h3', {}, bi('本网关', 'This gateway')),
      h('table', {}, h('tbody', {},
        h('tr', {}, h('th', {}, '/healthz'), h('td', { class: live.ok ? 'ok' : 'bad' }, live.ok ? 'up' : 'down (' + live.status + ')'), h('td', { class: 'num' }, live.ms.toFixed(1) + ' ms')),
        h('tr', {}, h('th', {}, '/readyz'), h('td', { class: ready.ok ? 'ok' : 'bad' }, ready.ok ? 'ready' : 'not ready (' + ready.status + ')'), h('td', { class: 'num' }, ready.ms.toFixed(1) + ' ms'))))));
    cards.push(h('div', { class: 'card' }, h('h3', {}, bi('联邦成员', 'Federation members')),
      rows.length ? h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: 'health-table' }, h('thead', {}, h('tr', {}, h('th', {}, bi('区域', 'Region')), h('th', {}, bi('状态', 'Status')), h('th', { class: 'num' }, bi('延迟', 'Latency')),
        h('th', {}, bi('最近应答', 'Last answer')), h('th', {}, bi('数据时间', 'Data as of')), h('th', {}, bi('联署检查点', 'Checkpoint cosigned')))), h('tbody', {}, rows)))
        : h('p', { class: 'muted' }, '无法读取联邦成员。 The federation members could not be read.'),
      federation.federated ? null : h('p', { class: 'muted' }, '本网关未加入联邦。 This gateway runs outside any federation.')));
    // The members table is wide: it takes the whole row under this gateway's card.
    fill(body, cards[0], cards[1]);
    // The checkpoint with cosignatures, when this role may read it.
    if (!['auditor', 'admin'].includes(c.role)) {
      body.append(h('div', { class: 'card muted' }, '检查点与联署需要审计员角色。 The checkpoint and its cosignatures need the auditor role: ', h('a', { href: '#/signin' }, '切换角色 Switch role')));
      return;
    }
    try {
      const [{ data: text }, { data: keyLine }] = await Promise.all([api('/v1/audit/checkpoint', { accept: 'text/plain' }), api('/v1/audit/key', { accept: 'text/plain' })]);
      const cp = parseCheckpoint(text);
      body.append(checkpointCard(cp, await checkLogSignature(cp, keyLine)));
    } catch (e) {
      body.append(h('div', { class: 'card muted' }, '检查点需要审计员角色。 The checkpoint needs the auditor role here (' + (e.status || e.message) + ').'));
    }
  }

  // ---------------------------------------------------------------- caseworker card
  const FIELD_ZH = {
    records: '记录数', person: '个人信息', registration: '最近求职登记', last_employment_event: '最近就业事件', trainings: '培训记录', benefits: '服务资格',
    person_key: '人员标识', sex: '性别', birth_date: '出生日期', education: '学历', hukou_division: '户籍地', hukou_nature: '户口性质',
    residence_division: '居住地', graduation_year: '毕业年份', key_groups: '重点群体', protected: '受保护信息', name: '姓名', id_number: '身份证号', phone: '电话',
    seeker_category: '求职类别', desired_occupations: '意向职业', desired_division: '意向工作地', registered_on: '登记日期', valid_until: '有效期至',
    status: '状态', kind: '事件', employer_uscc: '用人单位代码', employment_form: '就业形式', occupation: '职业', work_division: '工作地', date: '日期', reason: '原因',
    provider_uscc: '培训机构代码', target_occupation: '培训职业', training_type: '培训类型', start_on: '开始日期', end_on: '结束日期', certificate_level: '证书等级',
    subsidy_cny: '补贴（元）', outcome: '结果', active_registration: '登记有效', registered_unemployed: '已登记失业', training_subsidy_cny: '培训补贴（元）', record_type: '记录类型', record_id: '记录号', region: '区域',
  };
  const HIDDEN_FIELDS = new Set(['record_type', 'schema_version', 'code_lists', 'provenance', 'record_version', 'source', 'source_record_id']);
  const REGION_ANSWER = { ok: ['已应答', 'answered', 'ok'], timeout: ['超时', 'timed out', 'bad'], unreachable: ['无法连接', 'unreachable', 'bad'], denied: ['拒绝', 'denied', 'bad'], bad_signature: ['签名无效', 'bad signature', 'bad'], error: ['出错', 'error', 'bad'] };
  /** Every division code in a lookup answer, to name them before drawing. */
  function divisionCodes(v, key, out) {
    if (Array.isArray(v)) v.forEach((x) => divisionCodes(x, key, out));
    else if (v && typeof v === 'object') for (const [k2, x] of Object.entries(v)) divisionCodes(x, k2, out);
    else if (key && /division$/.test(key) && /^\d{6}$/.test(String(v))) out.add(String(v));
    return out;
  }
  /** Every occupation code in a lookup answer, to name them before drawing. */
  function occupationCodes(v, key, out) {
    if (Array.isArray(v)) v.forEach((x) => occupationCodes(x, key, out));
    else if (v && typeof v === 'object') for (const [k2, x] of Object.entries(v)) occupationCodes(x, k2, out);
    else if (key && /occupation/.test(key)) out.add(String(v));
    return out;
  }
  /** A code shown by its Chinese name, the code itself in small text. */
  const named = (name, code) => [name, ' ', h('span', { class: 'code' }, String(code))];
  function occName(code) {
    const c = String(code);
    const o = occNames.get(c);
    if (o) return named(o.name, c);
    const g = OCC[c[0]];
    return g ? named(g[0] + (c.length > 1 ? '（大类）' : ''), c) : c;
  }
  /** One value of a lookup answer, readable: names for codes, Chinese dates, nested records. */
  function fieldValue(key, v) {
    if (v === null || v === undefined || v === '') return '—';
    if (typeof v === 'boolean') return v ? '是 yes' : '否 no';
    if (Array.isArray(v)) {
      if (!v.length) return '无 none';
      if (v.every((x) => x && typeof x === 'object')) return v.map((x) => h('div', { class: 'sub' }, fieldList(x)));
      return v.map((x, i) => [i ? '、' : '', fieldValue(key === 'key_groups' ? 'key_group' : key === 'desired_occupations' ? 'occupation' : key, x)]);
    }
    if (typeof v === 'object') return fieldList(v);
    const t = String(v);
    if (/division$/.test(key) && /^\d{6}$/.test(t)) return named(divName(t), t);
    if (/occupation/.test(key)) return occName(t);
    if (key === 'education') return EDU[t] ? named(EDU[t], t) : t;
    if (key === 'sex') return SEX[t] ? named(SEX[t], t) : t;
    if (/(^date$|_date$|_on$|_until$|_through$)/.test(key) || /^\d{4}-\d{2}-\d{2}$/.test(t)) return zhDate(t);
    if (key === 'period_month' && MONTH_RE.test(t)) return zhDate(t);
    if (t in CODE_ZH && !/(_key|_id|uscc|name|phone|id_number)$/.test(key)) return named(CODE_ZH[t], t);
    return t;
  }
  function fieldList(obj) {
    return h('dl', { class: 'fields' }, Object.entries(obj).filter(([k2]) => !HIDDEN_FIELDS.has(k2)).map(([k2, v]) => [
      h('dt', {}, FIELD_ZH[k2] || k2, FIELD_ZH[k2] ? h('span', { class: 'code' }, ' ' + k2) : null),
      h('dd', { 'data-field': k2 }, fieldValue(k2, v))]));
  }
  /** One region's answer to a lookup as a card: what it answered, and what it holds. */
  function personCard(x) {
    const [zh, en, cls] = REGION_ANSWER[x.status] || [x.status, x.status, 'bad'];
    const found = x.status === 'ok' ? (x.found ? ['已找到', 'found', 'ok'] : ['未找到', 'not found', 'muted']) : null;
    return h('article', { class: 'card person-card', 'data-region': x.region, 'data-status': x.status, 'data-found': String(x.found), 'aria-label': regionName(x.region) },
      h('div', { class: 'cardhead' }, h('h4', {}, regionName(x.region)),
        h('span', { class: 'badge ' + cls, 'data-answer': x.status }, zh + ' ' + en),
        found ? h('span', { class: 'badge ' + found[2], 'data-found-label': String(x.found) }, found[0] + ' ' + found[1]) : null,
        h('span', { class: 'muted small' }, x.latency_ms === null || x.latency_ms === undefined ? '' : Number(x.latency_ms).toFixed(0) + ' ms')),
      x.status !== 'ok' ? h('p', { class: 'bad' }, missingWhy(x)[0] + ' ' + missingWhy(x)[1] + (x.detail ? '（' + shortReason(x) + '）' : '')) : null,
      x.status === 'ok' && x.found ? fieldList(x.fields) : null,
      x.receipt ? h('p', { class: 'muted small' }, '该区域审计日志 audited there as entry #' + x.receipt.index) : null);
  }

  async function pageCaseworker() {
    const body = byId('caseworker-body');
    if (needSignIn(body, ['caseworker'])) return;
    await loadFederation();
    const result = h('div', { id: 'lookup-result' });
    const regions = regionsToAsk();
    const kind = h('select', { name: 'kind' }, h('option', { value: 'id_number' }, '身份证号 ID number'), h('option', { value: 'person_key' }, 'person_key'));
    const ident = h('input', { name: 'ident', size: 46, autocomplete: 'off', required: true, placeholder: '18 位身份证号或 person_key' });
    const purpose = h('select', { name: 'purpose' }, PURPOSES.map(([v, l]) => h('option', { value: v }, l)));
    const basis = h('input', { name: 'legal_basis', size: 40, required: true, placeholder: '如 e.g. 就业服务与就业管理规定 第六十二条' });
    const boxes = regions.map((r) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', value: r, checked: true }), regionName(r)));
    const run = async (ev) => {
      ev.preventDefault();
      const req = { purpose: purpose.value, legal_basis: basis.value.trim(), regions: boxes.map((b) => b.firstChild).filter((i) => i.checked).map((i) => i.value) };
      if (!req.legal_basis) { fill(result, errorBox('法律依据必填 A legal basis is required')); return; }
      req[kind.value] = ident.value.trim();
      ident.value = ''; // the ID number is not kept in the page
      fill(result, h('div', { class: 'muted' }, '查询中… Looking up…'));
      try {
        const r = await personLookup(req);
        // Read after the lookup, so the members' data times include what it just learnt.
        await loadFederation();
        const statuses = mergeStatuses(r.regions);
        const complete = r.complete !== undefined ? !!r.complete : statuses.every((x) => x.status === 'ok');
        await Promise.all([nameDivisions(divisionCodes(r.regions.map((x) => x.fields), null, new Set())),
          nameOccupations(occupationCodes(r.regions.map((x) => x.fields), null, new Set()))]);
        fill(result, h('div', { class: 'card' },
          h('h3', {}, bi('结果', 'Result'), complete ? null : [' ', partialMark()], r.person_key ? h('span', { class: 'mono' }, ' person_key ' + r.person_key) : null),
          fedStatus(statuses),
          h('div', { class: 'grid g2 cards' }, r.regions.map(personCard)),
          r.receipt ? h('p', { class: 'muted' }, '本次查询已记入审计日志 Audited here as entry #' + r.receipt.index + ' (' + r.receipt.log_origin + ')') : null));
      } catch (e) {
        fill(result, errorBox(e));
      }
    };
    fill(body,
      h('form', { class: 'card', on: { submit: run } },
        h('div', { class: 'row' }, h('label', {}, bi('标识类型', 'Identifier'), kind), h('label', {}, bi('身份证号 / person_key', 'ID number or person_key'), ident)),
        h('div', { class: 'row' }, h('label', {}, bi('查询目的', 'Purpose'), purpose), h('label', {}, bi('法律依据', 'Legal basis'), basis)),
        boxes.length ? h('div', { class: 'row' }, h('span', { class: 'muted' }, bi('查询区域', 'Regions')), boxes) : null,
        h('p', { class: 'muted' }, '身份证号只发送到本网关，在此哈希为 person_key，不会发往其他区域。 The ID number goes only to this gateway, which hashes it to a person_key; other regions never see it.'),
        h('button', { type: 'submit' }, '查询 Look up')),
      result);
  }

  // ---------------------------------------------------------------- auditor
  async function fetchCheckpoint() {
    const { data } = await api('/v1/audit/checkpoint', { accept: 'text/plain' });
    return parseCheckpoint(data);
  }
  /** Raw canonical entries [from, to) as byte arrays, exactly as hashed into the log. */
  async function rawEntries(from, to) {
    const out = [];
    for (let f = from; f < to; f = Math.min(to, f + 10000)) {
      const t = Math.min(to, f + 10000);
      const { res } = await api('/v1/audit/entries?from=' + f + '&to=' + t, { accept: 'application/x-ndjson', raw: true });
      const bytes = new Uint8Array(await res.arrayBuffer());
      let start = 0;
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] === 0x0a) { out.push(bytes.slice(start, i)); start = i + 1; }
      }
      if (start < bytes.length) out.push(bytes.slice(start));
    }
    if (out.length !== to - from) throw new Error('expected ' + (to - from) + ' entries, got ' + out.length);
    return out;
  }

  /**
   * Verifies, in this browser: the log's signature on the checkpoint, the inclusion of entry
   * `index` against it, and its consistency with the last checkpoint this browser verified (or,
   * the first time, with the root of the first half of the log recomputed here from its entries).
   */
  async function verifyLog(index, report) {
    const M = PesMerkle;
    const cp = await fetchCheckpoint();
    const root = M.fromB64(cp.root);
    const steps = [];
    const { data: keyLine } = await api('/v1/audit/key', { accept: 'text/plain' });
    const sig = await checkLogSignature(cp, keyLine);
    if (sig && !sig.ok) throw new M.MerkleError('checkpoint signature: ' + sig.why);
    steps.push(sig ? '✔ ' + sig.why : '– Ed25519 not available in this browser: signature not checked');
    report(steps);
    if (cp.size === 0) throw new M.MerkleError('the log is empty');
    const i = Math.min(Math.max(0, index === null || isNaN(index) ? cp.size - 1 : index), cp.size - 1);
    const [entry] = await rawEntries(i, i + 1);
    const leaf = await M.leafHash(entry);
    const { data: inc } = await api('/v1/audit/proof/inclusion?index=' + i + '&size=' + cp.size);
    await M.verifyInclusion(i, cp.size, leaf, inc.proof, root);
    steps.push('✔ 包含证明 inclusion: entry ' + i + ' (leaf ' + M.toB64(leaf).slice(0, 12) + '…) is in the tree of size ' + cp.size + ' (' + inc.proof.length + ' hashes)');
    report(steps);
    const stateKey = 'pes.audit.trusted.' + cp.origin;
    let old = null;
    try { old = JSON.parse(localStorage.getItem(stateKey) || 'null'); } catch (e) { old = null; }
    let oldSize; let oldRoot; let how;
    if (old && old.size > 0 && old.size <= cp.size) {
      oldSize = old.size; oldRoot = M.fromB64(old.root); how = 'the checkpoint this browser verified before';
    } else {
      oldSize = Math.max(1, Math.min(Math.floor(cp.size / 2), 20000));
      oldRoot = await M.rootOfLeaves(await Promise.all((await rawEntries(0, oldSize)).map((e) => M.leafHash(e))));
      how = 'the root of the first ' + oldSize + ' entries, recomputed here from the entries';
    }
    if (oldSize === cp.size) {
      if (!M.equal(oldRoot, root)) throw new M.MerkleError('same size ' + oldSize + ', different root: the log forked');
      steps.push('✔ 一致性 consistency: same size and root as ' + how);
    } else {
      const { data: con } = await api('/v1/audit/proof/consistency?old=' + oldSize + '&new=' + cp.size);
      await M.verifyConsistency(oldSize, cp.size, oldRoot, root, con.proof);
      steps.push('✔ 一致性证明 consistency: size ' + oldSize + ' → ' + cp.size + ' extends ' + how + ' (' + con.proof.length + ' hashes)');
    }
    localStorage.setItem(stateKey, JSON.stringify({ size: cp.size, root: cp.root }));
    report(steps);
    return { cp, index: i, steps };
  }

  function eventRow(ix, ev) {
    const a = ev.actor || {};
    return h('tr', { 'data-index': String(ix) },
      h('td', { class: 'num' }, String(ix)),
      h('td', { class: 'mono nowrap', title: ev.time || '' }, (ev.time || '').replace('T', ' ').replace(/\.\d+Z$|Z$/, '')),
      h('td', {}, ev.action || ''),
      h('td', {}, (a.sub || '') + (a.role ? ' (' + a.role + ')' : '') + (a.region ? ' ' + a.region : '') + (a.peer_member ? ' peer ' + a.peer_member : '')),
      h('td', {}, ev.purpose || ''), h('td', {}, ev.legal_basis || ''),
      h('td', { class: ev.outcome === 'ok' ? 'ok' : ev.outcome === 'denied' || ev.outcome === 'error' ? 'bad' : '' }, ev.outcome || ''),
      h('td', { class: 'mono' }, ev.person_key || ev.dataset || ev.reason || ''));
  }
  const eventHead = () => h('thead', {}, h('tr', {}, h('th', { class: 'num' }, '#'), h('th', {}, bi('时间', 'Time')), h('th', {}, bi('操作', 'Action')), h('th', {}, bi('访问者', 'Actor')),
    h('th', {}, bi('目的', 'Purpose')), h('th', {}, bi('法律依据', 'Legal basis')), h('th', {}, bi('结果', 'Outcome')), h('th', {}, bi('对象', 'Subject'))));

  /** Entries matching filters, newest first, scanning back from the end of the log. */
  async function findEntries(size, filters, limit) {
    const params = Object.entries(filters).filter(([, v]) => v).map(([key, v]) => '&' + key + '=' + encodeURIComponent(v)).join('');
    const found = [];
    for (let to = size; to > 0 && found.length < limit; to = Math.max(0, to - 10000)) {
      const from = Math.max(0, to - 10000);
      if (params) {
        const { data } = await api('/v1/audit/entries?from=' + from + '&to=' + to + params);
        found.push(...data.entries.reverse());
      } else {
        const raws = await rawEntries(Math.max(from, to - limit), to);
        const base = Math.max(from, to - limit);
        const dec = new TextDecoder();
        raws.forEach((r, j) => found.unshift({ index: base + j, event: JSON.parse(dec.decode(r)) }));
        break;
      }
    }
    return found.sort((a, b) => b.index - a.index).slice(0, limit);
  }

  async function pageAudit() {
    const body = byId('audit-body');
    if (needSignIn(body, ['auditor', 'admin'])) return;
    let cp;
    try { cp = await fetchCheckpoint(); } catch (e) { fill(body, errorBox(e)); return; }
    let sig = null;
    try { sig = await checkLogSignature(cp, (await api('/v1/audit/key', { accept: 'text/plain' })).data); } catch (e) { sig = { ok: false, why: String(e.message) }; }
    const verdict = h('div', { id: 'verify-verdict' });
    const stepList = h('ol', { class: 'steps', id: 'verify-steps' });
    const idx = h('input', { name: 'index', type: 'number', min: 0, size: 8, placeholder: String(Math.max(0, cp.size - 1)) });
    const verifyBtn = h('button', { id: 'verify-button', type: 'button' }, '在浏览器中校验 Verify in this browser');
    verifyBtn.addEventListener('click', async () => {
      verifyBtn.disabled = true;
      fill(verdict, h('div', { class: 'muted' }, '校验中… Verifying…'));
      try {
        const r = await verifyLog(idx.value === '' ? null : Number(idx.value), (steps) => fill(stepList, ...steps.map((t) => h('li', {}, t))));
        fill(verdict, h('div', { class: 'verdict ok', 'data-verdict': 'verified' },
          '✔ 已验证 Verified: entry ' + r.index + ' is in the log, and the log of size ' + fmtInt(r.cp.size) + ' is consistent with its earlier state.'));
      } catch (e) {
        fill(verdict, h('div', { class: 'verdict bad', 'data-verdict': 'failed' }, '✘ 校验失败 Verification failed: ' + (e.message || e)));
      } finally { verifyBtn.disabled = false; }
    });

    const list = h('div', { id: 'audit-entries' });
    const f = {
      action: h('select', { name: 'action' }, h('option', { value: '' }, '全部 any'), ACTIONS.map((a) => h('option', { value: a }, a))),
      actor: h('input', { name: 'actor', size: 16, placeholder: 'sub' }),
      region: h('input', { name: 'region', size: 8, placeholder: '440000' }),
      since: h('input', { name: 'since', size: 20, placeholder: '2026-01-01T00:00:00Z' }),
      until: h('input', { name: 'until', size: 20, placeholder: 'RFC 3339' }),
    };
    const loadList = async (ev) => {
      if (ev) ev.preventDefault();
      fill(list, h('div', { class: 'muted' }, '加载中… Loading…'));
      try {
        const now = await fetchCheckpoint();
        const rows = await findEntries(now.size, { action: f.action.value, actor: f.actor.value.trim(), region: f.region.value.trim(), since: f.since.value.trim(), until: f.until.value.trim() }, 200);
        fill(list, h('p', { class: 'muted' }, rows.length + ' 条（最新在前，最多 200） entries, newest first'),
          h('div', { class: 'scroll', tabindex: 0 }, h('table', { id: 'audit-table' }, eventHead(), h('tbody', {}, rows.map((r) => {
            const tr = eventRow(r.index, r.event);
            tr.addEventListener('click', () => { idx.value = String(r.index); });
            return tr;
          })))));
      } catch (e) { fill(list, errorBox(e)); }
    };

    const pk = h('input', { name: 'person_key', size: 50, placeholder: 'person_key (base64url)' });
    const pkOut = h('div', { id: 'person-report' });
    const personReport = async (ev) => {
      ev.preventDefault();
      const key = pk.value.trim();
      if (!key) return;
      fill(pkOut, h('div', { class: 'muted' }, '加载中… Loading…'));
      try {
        const now = await fetchCheckpoint();
        const rows = await findEntries(now.size, { person_key: key }, 1000);
        fill(pkOut, h('p', {}, bi('共 ' + rows.length + ' 次访问', 'accesses to this person_key (who, when, for what purpose)')),
          rows.length ? h('table', { id: 'person-table' }, eventHead(), h('tbody', {}, rows.map((r) => eventRow(r.index, r.event)))) : h('p', { class: 'muted' }, '无记录 none recorded'));
      } catch (e) { fill(pkOut, errorBox(e)); }
    };

    fill(body, 
      h('div', { class: 'grid g2' },
        checkpointCard(cp, sig),
        h('div', { class: 'card' }, h('h3', {}, bi('校验', 'Verify')),
          h('p', { class: 'muted' }, '用 WebCrypto SHA-256 按 RFC 6962（叶 0x00、节点 0x01）重算哈希；不信任服务器的结论。 Recomputes RFC 6962 hashes with WebCrypto SHA-256; trusts nothing the server concludes.'),
          h('div', { class: 'row' }, h('label', {}, bi('条目序号', 'Entry index (blank: latest; click a row)'), idx), verifyBtn),
          verdict, stepList)),
      h('div', { class: 'card' }, h('h3', {}, bi('日志条目', 'Log entries')),
        h('form', { class: 'row', on: { submit: loadList } },
          h('label', {}, bi('操作', 'Action'), f.action), h('label', {}, bi('访问者', 'Actor'), f.actor), h('label', {}, bi('区域', 'Region'), f.region),
          h('label', {}, bi('起', 'Since'), f.since), h('label', {}, bi('止', 'Until'), f.until), h('button', { type: 'submit' }, '筛选 Filter')),
        list),
      h('div', { class: 'card' }, h('h3', {}, bi('个人访问报告', 'Per-person access report')),
        h('form', { class: 'row', on: { submit: personReport } }, h('label', {}, 'person_key', pk), h('button', { type: 'submit' }, '生成报告 Report')),
        pkOut));
    loadList();
  }

  // ---------------------------------------------------------------- sign-in
  function pageSignIn() {
    const body = byId('signin-body');
    const ta = h('textarea', { id: 'token-input', 'aria-label': '令牌 token', placeholder: 'eyJhbGciOiJFZERTQSIs…', spellcheck: 'false' });
    const msg = h('div');
    const useToken = (t, next) => {
      session.token = t.trim();
      const c = session.claims();
      if (!c) { session.token = ''; fill(msg, errorBox('这不是 JWT。 That is not a JWT.')); return; }
      showWho();
      location.hash = next || (c.role === 'auditor' ? '#/audit' : c.role === 'caseworker' ? '#/caseworker' : '#/overview');
    };
    const demoBox = demo && demo.tokens && demo.tokens.length
      ? h('div', { class: 'card' }, h('h3', {}, bi('演示：选择角色', 'Demo: pick a role')),
        h('p', { class: 'muted' }, '这些令牌仅由 pesgw demo 提供。 These tokens exist only on a gateway started by pesgw demo.'),
        h('div', { class: 'roles' }, demo.tokens.map((t) => h('button', { class: 'secondary', 'data-role': t.role, on: { click: () => useToken(t.token) } }, t.role + ' · ' + regionName(t.region)))))
      : null;
    fill(body, h('div', { class: 'grid g2' },
      h('form', { class: 'card', on: { submit: (e) => { e.preventDefault(); useToken(ta.value); } } },
        h('h3', {}, bi('粘贴令牌', 'Paste a token')),
        h('p', { class: 'muted' }, '令牌由 pesgw token issue 签发，仅保存在本标签页 (sessionStorage)。 Issued by pesgw token issue; kept in this tab only.'),
        ta, h('div', { class: 'row' }, h('button', { type: 'submit' }, '登录 Sign in')), msg),
      demoBox || h('div', { class: 'card muted' }, '非演示网关：请粘贴令牌。 Not a demo gateway: paste a token.')));
  }

  // ---------------------------------------------------------------- router
  const PAGES = { overview: pageOverview, occupations: pageOccupations, groups: pageGroups, trends: pageTrends, coverage: pageCoverage, health: pageHealth, caseworker: pageCaseworker, audit: pageAudit, signin: pageSignIn };
  const ANALYST_PAGES = ['overview', 'occupations', 'groups', 'trends', 'coverage'];
  function route() {
    const name = hashState().name;
    const page = PAGES[name] ? name : 'overview';
    for (const sec of document.querySelectorAll('main > section')) {
      sec.hidden = sec.id !== 'page-' + page;
      // A page is drawn afresh each visit: a hidden one keeps no controls (nor their ids).
      if (sec.hidden) for (const b of sec.querySelectorAll('[id$="-body"]')) fill(b);
    }
    const p = hashState().params;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.route === page) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
      // The analyst pages share the view's filters and drill-down level.
      if (ANALYST_PAGES.includes(a.dataset.route)) {
        const q = new URLSearchParams();
        for (const key of ['from', 'to', 'kg', 'occ', 'at']) if (p.get(key)) q.set(key, p.get(key));
        a.setAttribute('href', '#/' + a.dataset.route + (q.toString() ? '?' + q : ''));
      }
    }
    PAGES[page]();
  }

  async function start() {
    showWho();
    try {
      const r = await fetch('/ui/demo/tokens.json', { cache: 'no-store' });
      if (r.ok) demo = await r.json();
    } catch (e) { demo = null; }
    // In the demo, a first visit signs in as the analyst so the overview shows data at once.
    if (demo && !session.token) {
      const a = (demo.tokens || []).find((t) => t.role === 'analyst');
      if (a) { session.token = a.token; showWho(); }
    }
    window.addEventListener('hashchange', route);
    route();
  }
  window.PesDashboard = { parseCheckpoint, verifyLog, session };
  start();
})();
