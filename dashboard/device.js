/* device.js: one device's view: live probe chart, probe table, export. */

import { chartData, phaseData, flagProbes, median, toCSV, toJSON,
         AMBER, RED } from './probes.js';
import { formatMs, formatPct, formatTime, lossOf } from './table.js';


const MAX_ROWS = 500;
const REDRAW_MS = 250;
const FLAG_CLASS = ['', 'f-amber', 'f-red'];
const FLAG_LABEL = ['normal', '\u22652\u00d7 median', '\u22653\u00d7 median'];


function
css(name)
{
    return getComputedStyle(document.documentElement)
           .getPropertyValue(name).trim();
}


function
el(tag, text, cls)
{
    const e = document.createElement(tag);

    if (text !== undefined) {
        e.textContent = text;
    }

    if (cls) {
        e.className = cls;
    }

    return e;
}


export class DeviceView {

    constructor(opt) {
        this.client = opt.client;
        this.buffers = opt.buffers;
        this.requestFrame = opt.requestFrame;
        this.onClose = opt.onClose;

        this.section = document.getElementById('device');
        this.nameEl = document.getElementById('dev-name');
        this.metaEl = document.getElementById('dev-meta');
        this.checkEl = document.getElementById('dev-check');
        this.windowEl = document.getElementById('dev-window');
        this.phaseEl = document.getElementById('mode-phase');
        this.chartEl = document.getElementById('chart');
        this.summaryEl = document.getElementById('chart-summary');
        this.rowsEl = document.getElementById('probe-rows');

        this.d = null;
        this.key = null;
        this.mode = 'rt';
        this.zoom = null;
        this.plot = null;
        this.plotMode = null;
        this.uPlot = null;
        this.probeRows = null;        /* probe id -> its table row */
        this.dirty = false;
        this.lastDraw = 0;
        this.drawTimer = null;
        this.applying = false;
        this.visible = [];

        document.getElementById('dev-close')
            .addEventListener('click', () => this.close());

        this.checkEl.addEventListener('change', () => {
            this.key = this.checkEl.value;
            this.zoom = null;
            this.updateMode();
            this.redraw(true);
        });

        this.windowEl.addEventListener('change', () => {
            this.zoom = null;
            this.redraw(true);
        });

        for (const r of this.section.querySelectorAll('input[name="mode"]')) {
            r.addEventListener('change', () => {
                this.mode = r.value;
                this.redraw(true);
            });
        }

        document.getElementById('dev-unzoom')
            .addEventListener('click', () => {
                this.zoom = null;
                this.redraw(true);
            });

        for (const b of this.section.querySelectorAll('[data-export]')) {
            b.addEventListener('click', () =>
                this.download(b.dataset.export, b.dataset.scope));
        }

        this.section.addEventListener('keydown', (ev) => {
            if (ev.key === 'Escape') {
                this.close();
            }
        });

        window.addEventListener('resize', () => {
            if (this.plot) {
                this.plot.setSize(this.size());
            }
        });
    }

    isOpen() {
        return this.d !== null;
    }

    open(d) {
        const dev = this.client.devices.get(d);

        this.d = d;
        this.zoom = null;
        this.section.hidden = false;
        this.nameEl.textContent = dev?.n ?? d;
        this.fillChecks();
        this.updateMeta();
        this.updateMode();
        this.redraw(true);
        this.nameEl.focus();
    }

    close() {
        if (this.d === null) {
            return;
        }

        const d = this.d;

        this.d = null;
        this.section.hidden = true;

        if (this.plot) {
            this.plot.destroy();
            this.plot = null;
        }

        this.onClose(d);
    }

    /* the checks of this device: every region times every kind */
    fillChecks() {
        const keys = [];

        for (const r of this.client.regionsOf(this.d)) {
            for (const k of this.client.kindsOf(this.d)) {
                keys.push(this.d + '|' + r + '|' + k);
            }
        }

        for (const key of this.buffers.keys()) {
            if (key.startsWith(this.d + '|') && !keys.includes(key)) {
                keys.push(key);
            }
        }

        this.checkEl.textContent = '';

        for (const key of keys) {
            const [, r, k] = key.split('|');
            const o = el('option', k + ' from ' + r);

            o.value = key;
            this.checkEl.appendChild(o);
        }

        /* open on the first check that has data */
        this.key = keys.find((key) => this.buffers.has(key)) ?? keys[0]
                   ?? null;

        if (this.key !== null) {
            this.checkEl.value = this.key;
        }
    }

    updateMeta() {
        const dev = this.client.devices.get(this.d);
        const st = this.client.deviceState(this.d);

        this.metaEl.textContent = [dev?.a,
                                   this.client.regionsOf(this.d).join(', '),
                                   'status: ' + st]
                                  .filter(Boolean).join(' \u00b7 ');
    }

    updateMode() {
        const isHttp = this.key !== null && this.key.endsWith('|http');

        this.phaseEl.disabled = !isHttp;

        if (!isHttp && this.mode === 'phase') {
            this.mode = 'rt';
            this.section.querySelector('input[value="rt"]').checked = true;
        }
    }

    /* an event arrived for this device */
    onProbe(e) {
        if (this.d === null || e.d !== this.d) {
            return;
        }

        if (this.checkEl.querySelector('option[value="'
                                       + CSS.escape(e.d + '|' + e.r + '|'
                                                    + e.k) + '"]') === null)
        {
            this.fillChecks();
        }

        this.dirty = true;
        this.requestFrame();
    }

    flush() {
        if (this.d === null || !this.dirty) {
            return;
        }

        const wait = this.lastDraw + REDRAW_MS - Date.now();

        if (wait > 0) {
            if (this.drawTimer === null) {
                this.drawTimer = setTimeout(() => {
                    this.drawTimer = null;
                    this.requestFrame();
                }, wait);
            }
            return;
        }

        this.redraw(false);
    }

    /* probes of the selected window (before zoom) */
    windowProbes() {
        const buf = this.buffers.get(this.key);
        const secs = Number(this.windowEl.value);

        if (!buf) {
            return [];
        }

        return buf.range(secs > 0 ? Date.now() - secs * 1000 : null, null);
    }

    visibleProbes(all) {
        if (this.zoom === null) {
            return all;
        }

        const from = this.zoom.min * 1000;
        const to = this.zoom.max * 1000;

        return all.filter((p) => p.t >= from && p.t <= to);
    }

    size() {
        return {
            width: Math.max(300, this.chartEl.clientWidth
                                 || this.section.clientWidth - 20),
            height: 300
        };
    }

    async loadPlot() {
        if (this.uPlot === null) {
            const mod = await import('./vendor/uplot/uPlot.esm.js');

            this.uPlot = mod.default;
        }

        return this.uPlot;
    }

    options(mode) {
        const pt = (color, size) => ({
            show: true, size: size, fill: color, stroke: color, space: 0
        });
        const hooks = {
            setScale: [(u, key) => {
                if (key === 'x' && !this.applying) {
                    this.zoomed(u);
                }
            }]
        };
        const base = {
            ...this.size(),
            scales: { x: { time: true } },
            cursor: { drag: { x: true, y: false } },
            legend: { live: true },
            hooks: hooks
        };

        if (mode === 'phase') {
            const fmt = (phase) => (u, v, si, i) => {
                const p = this.drawn[i];

                return p && typeof p[phase] === 'number'
                       ? formatMs(p[phase]) : '\u2013';
            };

            return Object.assign(base, {
                series: [
                    {},
                    { label: 'TTFB', stroke: '#6f42c1', fill: '#e6dcf5',
                      value: fmt('ft') },
                    { label: 'TLS', stroke: '#0b7285', fill: '#c5eef2',
                      value: fmt('tl') },
                    { label: 'connect', stroke: '#2f6b00', fill: '#d3f0bd',
                      value: fmt('cn') },
                    { label: 'DNS', stroke: '#8a4b00', fill: '#ffe0b8',
                      value: fmt('dn') }
                ],
                axes: [{}, { label: 'ms (stacked)' }]
            });
        }

        return Object.assign(base, {
            series: [
                {},
                { label: 'response', stroke: '#afb8c1', width: 1,
                  spanGaps: true, points: { show: false } },
                { label: 'normal', stroke: css('--normal-pt'),
                  paths: () => null, points: pt(css('--normal-pt'), 5) },
                { label: '\u22652\u00d7 median', stroke: css('--amber-pt'),
                  paths: () => null, points: pt(css('--amber-pt'), 8) },
                { label: '\u22653\u00d7 median', stroke: css('--red-pt'),
                  paths: () => null, points: pt(css('--red-pt'), 9) }
            ],
            axes: [{}, { label: 'ms' }]
        });
    }

    /* a drag or double-click changed the x range */
    zoomed(u) {
        const x = u.data[0];
        const min = u.scales.x.min;
        const max = u.scales.x.max;

        if (x.length === 0 || min === undefined || min === null) {
            return;
        }

        /* double-click resets to the data's extent: that is no zoom */
        if (min <= x[0] && max >= x[x.length - 1]) {
            if (this.zoom === null) {
                return;
            }
            this.zoom = null;
        } else {
            this.zoom = { min, max };
        }

        this.dirty = true;
        this.lastDraw = 0;
        this.probeRows = null;
        this.requestFrame();
    }

    async redraw(rebuild) {
        if (this.d === null) {
            return;
        }

        const all = this.windowProbes();
        const visible = this.visibleProbes(all);
        const med = median(visible.map((p) => p.rt));
        let data;

        this.dirty = false;
        this.lastDraw = Date.now();
        this.visible = visible;
        this.updateMeta();

        const chart = chartData(all, med);

        if (this.mode === 'phase') {
            data = phaseData(all);
        } else {
            data = chart.data;
        }

        this.drawn = all;
        this.writeSummary(visible, med);
        this.writeRows(visible, rebuild);

        let uPlot;

        try {
            uPlot = await this.loadPlot();
        } catch (e) {
            this.chartEl.textContent = 'Chart library not found ('
                + 'vendor/uplot): run npm ci in dashboard/.';
            return;
        }

        if (this.d === null) {
            return;
        }

        this.applying = true;

        try {
            if (this.plot === null || rebuild || this.plotMode !== this.mode) {
                if (this.plot) {
                    this.plot.destroy();
                }

                this.chartEl.textContent = '';
                this.plot = new uPlot(this.options(this.mode), data,
                                      this.chartEl);
                this.plotMode = this.mode;

            } else {
                this.plot.setData(data, this.zoom === null);
            }

            if (this.zoom !== null) {
                this.plot.setScale('x', this.zoom);
            }

        } finally {
            this.applying = false;
        }
    }

    writeSummary(visible, med) {
        const { flags } = flagProbes(visible);
        let amber = 0;
        let red = 0;

        for (const f of flags) {
            amber += f === AMBER ? 1 : 0;
            red += f === RED ? 1 : 0;
        }

        this.summaryEl.textContent = visible.length + ' probes visible'
            + (med === null ? '' : ', median ' + formatMs(med))
            + ', ' + amber + ' at \u22652\u00d7 and ' + red
            + ' at \u22653\u00d7 the median.';
    }

    probeRow(p, flag) {
        const tr = el('tr', undefined, FLAG_CLASS[flag]);
        const detail = [];

        if (p.sc !== undefined) {
            detail.push('HTTP ' + p.sc);
        }

        for (const [f, label] of [['dn', 'DNS'], ['cn', 'connect'],
                                  ['tl', 'TLS'], ['ft', 'TTFB']])
        {
            if (typeof p[f] === 'number') {
                detail.push(label + ' ' + formatMs(p[f]));
            }
        }

        if (p.er) {
            detail.push('error: ' + p.er);
        }

        tr.appendChild(el('td', formatTime(p.t)));
        tr.appendChild(el('td', p.st ?? ''));
        tr.appendChild(el('td', formatMs(p.rt), 'num'));
        tr.appendChild(el('td', formatPct(lossOf(p)), 'num'));
        tr.appendChild(el('td', detail.join(', ')));

        const flagEl = el('td', FLAG_LABEL[flag], 'flag');

        tr.appendChild(flagEl);
        tr.dataset.id = p.id ?? '';

        return { tr, flagEl, flag };
    }

    /*
     * The newest MAX_ROWS probes, newest first, kept by id: a new probe
     * adds its row and the oldest leaves; rows are rebuilt only when the
     * window, the zoom or the check changed.  Flags follow the median.
     */
    writeRows(visible, rebuild) {
        const { flags } = flagProbes(visible);
        const n = visible.length;
        const first = Math.max(0, n - MAX_ROWS);
        const old = rebuild ? null : this.probeRows;
        const rows = new Map();

        if (old === null || old === undefined
            || visible.some((p) => typeof p.id !== 'string'))
        {
            const frag = document.createDocumentFragment();

            for (let i = n - 1; i >= first; i--) {
                const row = this.probeRow(visible[i], flags[i]);

                rows.set(visible[i].id, row);
                frag.appendChild(row.tr);
            }

            this.rowsEl.replaceChildren(frag);
            this.probeRows = rows;
            return;
        }

        for (let i = first; i < n; i++) {
            const p = visible[i];
            let row = old.get(p.id);

            if (row === undefined) {
                row = this.probeRow(p, flags[i]);

            } else if (row.flag !== flags[i]) {
                row.flag = flags[i];
                row.tr.className = FLAG_CLASS[flags[i]];
                row.flagEl.textContent = FLAG_LABEL[flags[i]];
            }

            rows.set(p.id, row);
        }

        for (const [id, row] of old) {
            if (!rows.has(id)) {
                row.tr.remove();
            }
        }

        /* usually one row goes in at the top: move only what moved */
        let cursor = this.rowsEl.firstChild;

        for (let i = n - 1; i >= first; i--) {
            const tr = rows.get(visible[i].id).tr;

            if (tr === cursor) {
                cursor = cursor.nextSibling;
            } else {
                this.rowsEl.insertBefore(tr, cursor);
            }
        }

        this.probeRows = rows;
    }

    exportText(format, scope) {
        const probes = scope === 'all'
                       ? (this.buffers.get(this.key)?.toArray() ?? [])
                       : this.visible;

        const basis = scope === 'all' ? 'buffer' : 'visible';

        return format === 'json' ? toJSON(probes, basis)
                                 : toCSV(probes, basis);
    }

    download(format, scope) {
        const text = this.exportText(format, scope);
        const type = format === 'json' ? 'application/json' : 'text/csv';
        const blob = new Blob([text], { type: type + ';charset=utf-8' });
        const a = document.createElement('a');
        const [d, r, k] = (this.key ?? 'none||').split('|');

        a.href = URL.createObjectURL(blob);
        a.download = ['devmon', d, r, k, scope].join('-')
                     .replace(/[^A-Za-z0-9._-]/g, '_') + '.' + format;
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }
}
