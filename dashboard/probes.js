/* probes.js: per-check probe history, median colouring and CSV/JSON export. */

/*
 * Pure logic, no DOM: the device view draws from it and node's test
 * runner checks it.
 */


import { eventTime } from './devmon.js';


/* fields kept per probe, in export order */
export const FIELDS = ['id', 't', 'd', 'r', 'k', 'st', 'rt', 'pl', 'sc',
                      'dn', 'cn', 'tl', 'ft', 'er'];

const HEADER = ['id', 'time', 'device', 'region', 'kind', 'status',
                'rt_ms', 'loss_pct', 'status_code', 'dns_ms', 'connect_ms',
                'tls_ms', 'ttfb_ms', 'error', 'flag'];

export const NORMAL = 0;
export const AMBER = 1;
export const RED = 2;

export const FLAG_TEXT = ['', '>=2x median', '>=3x median'];


/* median of the finite numbers in values, or null when there are none */

export function
median(values)
{
    const v = [];

    for (const x of values) {
        if (typeof x === 'number' && Number.isFinite(x)) {
            v.push(x);
        }
    }

    if (v.length === 0) {
        return null;
    }

    v.sort((a, b) => a - b);

    const mid = v.length >> 1;

    return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}


/*
 * A probe is amber at twice the window's median and red at three times.
 * A median of zero (sub-resolution times) flags nothing: every non-zero
 * value would otherwise be "infinitely" slow.
 */

export function
classify(value, med)
{
    if (typeof value !== 'number' || !Number.isFinite(value)
        || med === null || !(med > 0))
    {
        return NORMAL;
    }

    if (value >= 3 * med) {
        return RED;
    }

    if (value >= 2 * med) {
        return AMBER;
    }

    return NORMAL;
}


/* a bounded ring of probe events for one check (device, region, kind) */

export class ProbeBuffer {

    constructor(capacity = 720) {
        this.capacity = capacity;
        this.items = new Array(capacity);
        this.start = 0;
        this.length = 0;
    }

    push(e) {
        const p = {};

        for (const f of FIELDS) {
            if (e[f] !== undefined) {
                p[f] = e[f];
            }
        }

        /* a probe's t is always set: most events carry it in their id */
        p.t = eventTime(e);

        /* events arrive in stream order; a late one is placed by time */
        if (this.length > 0 && p.t < this.at(this.length - 1).t) {
            const all = this.toArray();
            let i = all.length;

            while (i > 0 && all[i - 1].t > p.t) {
                i--;
            }

            all.splice(i, 0, p);
            this.clear();

            for (const q of all.slice(-this.capacity)) {
                this.append(q);
            }

            return;
        }

        this.append(p);
    }

    append(p) {
        if (this.length < this.capacity) {
            this.items[(this.start + this.length) % this.capacity] = p;
            this.length++;
            return;
        }

        this.items[this.start] = p;
        this.start = (this.start + 1) % this.capacity;
    }

    at(i) {
        return this.items[(this.start + i) % this.capacity];
    }

    clear() {
        this.items = new Array(this.capacity);
        this.start = 0;
        this.length = 0;
    }

    toArray() {
        const out = new Array(this.length);

        for (let i = 0; i < this.length; i++) {
            out[i] = this.at(i);
        }

        return out;
    }

    /* probes with from <= t <= to (ms); null bounds are open */
    range(from, to) {
        return this.toArray().filter((p) =>
            (from === null || p.t >= from) && (to === null || p.t <= to));
    }
}


/* the median of rt over probes and the flag of each one */

export function
flagProbes(probes)
{
    const med = median(probes.map((p) => p.rt));

    return {
        median: med,
        flags: probes.map((p) => classify(p.rt, med))
    };
}


/*
 * uPlot data: x in seconds, rt as one line, then rt again split into
 * normal / amber / red points, coloured against med (by default the
 * median of these probes; the view passes the visible window's).
 */

export function
chartData(probes, med)
{
    const n = probes.length;
    const x = new Array(n);
    const line = new Array(n);
    const series = [new Array(n), new Array(n), new Array(n)];
    const flags = new Array(n);

    if (med === undefined) {
        med = median(probes.map((p) => p.rt));
    }

    for (let i = 0; i < n; i++) {
        const rt = num(probes[i].rt);

        flags[i] = classify(rt, med);
        x[i] = probes[i].t / 1000;
        line[i] = rt;
        series[0][i] = flags[i] === NORMAL ? rt : null;
        series[1][i] = flags[i] === AMBER ? rt : null;
        series[2][i] = flags[i] === RED ? rt : null;
    }

    return { median: med, flags, data: [x, line, ...series] };
}


/*
 * HTTP phase mode: DNS, connect, TLS and TTFB stacked, as cumulative
 * sums drawn largest first so each band shows one phase.
 */

export const PHASES = ['dn', 'cn', 'tl', 'ft'];

export function
phaseData(probes)
{
    const n = probes.length;
    const x = new Array(n);
    const sums = PHASES.map(() => new Array(n));

    for (let i = 0; i < n; i++) {
        let acc = 0;
        let any = false;

        x[i] = probes[i].t / 1000;

        for (let j = 0; j < PHASES.length; j++) {
            const v = probes[i][PHASES[j]];

            if (typeof v === 'number' && Number.isFinite(v)) {
                acc += v;
                any = true;
            }

            sums[j][i] = any ? acc : null;
        }
    }

    /* TTFB total first, DNS last: later series paint over earlier ones */
    return [x, sums[3], sums[2], sums[1], sums[0]];
}


function
num(v)
{
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
}


function
csvCell(v)
{
    if (v === undefined || v === null) {
        return '';
    }

    const s = String(v);

    /* quote what would break a row; defuse spreadsheet formulas */
    if (/^[=+\-@\t\r]/.test(s) && typeof v !== 'number') {
        return '"\'' + s.replace(/"/g, '""') + '"';
    }

    if (/[",\r\n]/.test(s)) {
        return '"' + s.replace(/"/g, '""') + '"';
    }

    return s;
}


/*
 * Flags are against the median of the probes exported: basis "visible"
 * (the chart's window) or "buffer" (every probe held), which the whole
 * buffer's export says in its flag column's name and "median_basis".
 */

export function
toCSV(probes, basis = 'visible')
{
    const { flags } = flagProbes(probes);
    const head = HEADER.slice();

    if (basis === 'buffer') {
        head[head.length - 1] = 'flag_vs_buffer_median';
    }

    const lines = [head.join(',')];

    probes.forEach((p, i) => {
        const row = [
            p.id, new Date(p.t).toISOString(), p.d, p.r, p.k, p.st, p.rt,
            p.pl, p.sc, p.dn, p.cn, p.tl, p.ft, p.er, FLAG_TEXT[flags[i]]
        ];

        lines.push(row.map(csvCell).join(','));
    });

    return lines.join('\r\n') + '\r\n';
}


export function
toJSON(probes, basis = 'visible')
{
    const { median: med, flags } = flagProbes(probes);

    return JSON.stringify({
        median_rt: med,
        median_basis: basis,
        median_of: probes.length,
        probes: probes.map((p, i) =>
            Object.assign({}, p, { flag: FLAG_TEXT[flags[i]] || null }))
    }, null, 1);
}
