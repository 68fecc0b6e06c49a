/* table.js: the device table, updated in place once per animation frame. */

/*
 * Each device has one row built once; an event only marks the device
 * dirty, and flush() (called from requestAnimationFrame) writes the cells
 * whose text changed.  Sorting on a live column is throttled so rows do
 * not jump under the reader's eyes on every event.
 */


import { eventTime } from './devmon.js';


const STATES = ['up', 'degraded', 'down', 'unknown'];
const RANK = { up: 0, unknown: 1, degraded: 2, down: 3 };
/*
 * Re-sorting 1,000 rows means laying them out again: on a live column it
 * happens at most this often, at once when the person asks.
 */
const RESORT_MS = 5000;
const collator = new Intl.Collator(undefined, { numeric: true,
                                                sensitivity: 'base' });


export function
formatMs(v)
{
    if (typeof v !== 'number' || !Number.isFinite(v)) {
        return '\u2013';
    }

    return (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1)
            : Math.round(v).toString()) + ' ms';
}


export function
formatPct(v)
{
    if (typeof v !== 'number' || !Number.isFinite(v)) {
        return '\u2013';
    }

    return (Number.isInteger(v) ? v : v.toFixed(1)) + ' %';
}


export function
formatTime(t)
{
    if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) {
        return '\u2013';
    }

    /* by hand: toLocaleTimeString costs ~0.2 ms, too much per event */
    const d = new Date(t);
    const two = (n) => (n < 10 ? '0' : '') + n;

    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':'
           + two(d.getSeconds());
}


/* probed leaves out a zero loss: an answered ICMP probe lost nothing */

export function
lossOf(e)
{
    if (typeof e.pl === 'number') {
        return e.pl;
    }

    return e.k === 'icmp' && typeof e.rt === 'number' ? 0 : null;
}


/* a device's figures for the table, from the client's latest results */

export function
deviceRow(client, d)
{
    const dev = client.devices.get(d);
    const kinds = client.kindsOf(d);
    const regions = client.regionsOf(d);
    let primary = null;
    let last = 0;

    for (const k of kinds) {
        for (const r of regions) {
            const e = client.latest.get(d + '|' + r + '|' + k);

            if (e === undefined) {
                continue;
            }

            const t = eventTime(e) ?? 0;

            if (t > last) {
                last = t;
            }

            /* the first listed kind is the one shown; newest region wins */
            if (k === kinds[0]
                && (primary === null || t > (eventTime(primary) ?? 0)))
            {
                primary = e;
            }
        }
    }

    for (const r of regions) {
        const s = client.states.get(d + '|' + r);

        const t = s === undefined ? 0 : eventTime(s) ?? 0;

        if (t > last && primary === null) {
            last = t;
        }
    }

    return {
        n: dev?.n ?? d,
        a: dev?.a ?? '',
        rg: regions.join(', '),
        st: client.deviceState(d),
        rt: primary?.rt ?? null,
        pl: primary === null ? null : lossOf(primary),
        k: primary?.k ?? kinds[0] ?? '',
        t: last || null
    };
}


export class DeviceTable {

    constructor(opt) {
        this.client = opt.client;
        this.tbody = opt.tbody;
        this.thead = opt.thead;
        this.countEls = opt.countEls;
        this.shownEl = opt.shownEl;
        this.emptyEl = opt.emptyEl;
        this.onOpen = opt.onOpen;
        this.requestFrame = opt.requestFrame;

        this.rows = new Map();
        this.dirty = new Set();
        this.order = [];
        this.sortKey = 'n';
        this.sortDir = 1;
        this.needSort = false;
        this.lastSort = 0;
        this.sortTimer = null;
        this.text = '';
        this.stateFilter = 'all';
        this.counts = { up: 0, degraded: 0, down: 0, unknown: 0 };
        this.countsDirty = true;

        this.tbody.addEventListener('click', (ev) => {
            const b = ev.target.closest('button[data-d]');

            if (b) {
                this.onOpen(b.dataset.d);
            }
        });

        this.thead.addEventListener('click', (ev) => {
            const b = ev.target.closest('button[data-key]');

            if (b) {
                this.sortBy(b.dataset.key);
            }
        });
    }

    /* a snapshot: rows for devices that left are removed, others kept */
    rebuild() {
        const keep = new Set(this.client.devices.keys());

        for (const [d, row] of this.rows) {
            if (!keep.has(d)) {
                row.tr.remove();
                this.counts[row.v.st]--;
                this.rows.delete(d);
            }
        }

        for (const d of keep) {
            this.touch(d);
        }

        this.needSort = true;
        this.lastSort = 0;
    }

    touch(d) {
        this.dirty.add(d);
    }

    build(d) {
        const tr = document.createElement('tr');
        const cells = {};

        /* roles: the CSS lays the table out as a grid (style.css) */
        tr.setAttribute('role', 'row');

        for (const key of ['n', 'a', 'rg', 'st', 'rt', 'pl', 't']) {
            const td = document.createElement('td');

            td.setAttribute('role', 'cell');
            cells[key] = td;
            tr.appendChild(td);
        }

        const b = document.createElement('button');

        b.type = 'button';
        b.dataset.d = d;
        cells.n.className = 'name';
        cells.n.appendChild(b);
        cells.a.className = 'addr';
        cells.rt.className = 'num';
        cells.pl.className = 'num';
        cells.t.className = 'time';

        const badge = document.createElement('span');

        badge.className = 'badge';
        cells.st.appendChild(badge);

        tr.dataset.d = d;

        const row = { d, tr, cells, button: b, badge, shown: true,
                      v: { st: 'unknown' }, w: {} };

        this.rows.set(d, row);
        this.order.push(d);
        this.tbody.appendChild(tr);
        this.counts.unknown++;
        this.needSort = true;

        return row;
    }

    /*
     * Apply what changed since the last frame.  Counts, filter and sort
     * follow every change; only cells whose text changed are written, and
     * rows off screen cost no layout (content-visibility in style.css).
     */
    flush() {
        if (this.dirty.size === 0 && !this.needSort && !this.countsDirty) {
            return;
        }

        for (const d of this.dirty) {
            if (!this.client.devices.has(d)) {
                continue;
            }

            const row = this.rows.get(d) ?? this.build(d);
            const v = deviceRow(this.client, d);
            const old = row.v;

            if (v.st !== old.st) {
                this.counts[old.st]--;
                this.counts[v.st]++;
                this.countsDirty = true;
            }

            if (old[this.sortKey] !== v[this.sortKey]) {
                this.needSort = true;
            }

            row.v = v;
            this.applyFilter(row);

            this.write(row);
        }

        this.dirty.clear();

        if (this.needSort) {
            this.maybeSort();
        }

        if (this.countsDirty) {
            this.writeCounts();
        }
    }

    write(row) {
        const v = row.v;
        const w = row.w;

        if (v.n !== w.n) {
            row.button.textContent = v.n;
        }

        if (v.a !== w.a) {
            row.cells.a.textContent = v.a;
        }

        if (v.rg !== w.rg) {
            row.cells.rg.textContent = v.rg;
        }

        if (v.st !== w.st) {
            row.badge.textContent = v.st;
            row.tr.className = 's-' + v.st;
        }

        if (v.rt !== w.rt || v.k !== w.k) {
            row.cells.rt.textContent = formatMs(v.rt);
            row.cells.rt.title = v.k ? v.k + ' response time' : '';
        }

        if (v.pl !== w.pl) {
            row.cells.pl.textContent = formatPct(v.pl);
        }

        if (v.t !== w.t) {
            row.cells.t.textContent = formatTime(v.t);
            row.cells.t.title = v.t ? new Date(v.t).toISOString() : '';
        }

        row.w = v;
    }

    maybeSort() {
        const wait = this.lastSort + RESORT_MS - Date.now();

        if (wait > 0) {
            if (this.sortTimer === null) {
                this.sortTimer = setTimeout(() => {
                    this.sortTimer = null;
                    this.requestFrame();
                }, wait);
            }
            return;
        }

        this.sort();
    }

    compare(a, b) {
        const key = this.sortKey;
        const x = this.rows.get(a).v;
        const y = this.rows.get(b).v;
        let c;

        if (key === 'st') {
            c = RANK[x.st] - RANK[y.st];

        } else if (key === 'rt' || key === 'pl' || key === 't') {
            const p = x[key];
            const q = y[key];

            /* devices with no figure go last whatever the direction */
            if (p === null || q === null) {
                return p === q ? collator.compare(x.n, y.n)
                       : (p === null ? 1 : -1);
            }

            c = p - q;

        } else {
            c = collator.compare(x[key], y[key]);
        }

        if (c === 0 && key !== 'n') {
            c = collator.compare(x.n, y.n);
        }

        return c * this.sortDir;
    }

    sort() {
        const next = Array.from(this.rows.keys());

        next.sort((a, b) => this.compare(a, b));

        this.needSort = false;
        this.lastSort = Date.now();

        let same = next.length === this.order.length;

        for (let i = 0; same && i < next.length; i++) {
            same = next[i] === this.order[i];
        }

        if (same) {
            return;
        }

        /*
         * One DOM write for the whole order (moving rows one by one is a
         * layout each); moving the focused row drops focus: put it back.
         */
        const focus = document.activeElement;
        const frag = document.createDocumentFragment();

        for (const d of next) {
            frag.appendChild(this.rows.get(d).tr);
        }

        this.tbody.replaceChildren(frag);
        this.order = next;

        if (focus && focus !== document.activeElement
            && this.tbody.contains(focus))
        {
            focus.focus({ preventScroll: true });
        }
    }

    sortBy(key) {
        if (this.sortKey === key) {
            this.sortDir = -this.sortDir;
        } else {
            this.sortKey = key;
            this.sortDir = key === 'st' ? -1 : 1;
        }

        for (const th of this.thead.querySelectorAll('th')) {
            const b = th.querySelector('button[data-key]');

            th.setAttribute('aria-sort', b && b.dataset.key === key
                            ? (this.sortDir > 0 ? 'ascending' : 'descending')
                            : 'none');
        }

        this.lastSort = 0;
        this.needSort = true;
        this.requestFrame();
    }

    setFilter(text, state) {
        this.text = text.trim().toLowerCase();
        this.stateFilter = state;

        for (const row of this.rows.values()) {
            this.applyFilter(row);
        }

        this.countsDirty = true;
        this.requestFrame();
    }

    matches(row) {
        const v = row.v;

        if (this.stateFilter !== 'all' && v.st !== this.stateFilter) {
            return false;
        }

        if (this.text === '') {
            return true;
        }

        return (v.n + ' ' + v.a + ' ' + v.rg + ' ' + row.d).toLowerCase()
               .indexOf(this.text) >= 0;
    }

    applyFilter(row) {
        const show = this.matches(row);

        if (show !== row.shown) {
            row.shown = show;
            row.tr.hidden = !show;
            this.countsDirty = true;
        }
    }

    writeCounts() {
        let all = 0;
        let shown = 0;

        for (const st of STATES) {
            this.countEls[st].textContent = String(this.counts[st]);
            all += this.counts[st];
        }

        for (const row of this.rows.values()) {
            shown += row.shown ? 1 : 0;
        }

        this.countEls.all.textContent = String(all);
        this.shownEl.textContent = shown === all ? ''
                                   : shown + ' of ' + all + ' shown';
        this.emptyEl.hidden = all > 0;
        this.countsDirty = false;
    }
}
