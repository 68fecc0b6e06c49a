/* app.js: the dashboard page: token, client, banners, table and device view. */

import { DevmonClient } from './devmon.js';
import { ProbeBuffer } from './probes.js';
import { DeviceTable } from './table.js';
import { DeviceView } from './device.js';


const TOKEN_KEY = 'devmon.token';
const BUFFER_PROBES = 360;
const STATUS_LOG = 200;
const STATUS_TEXT = {
    connecting: 'Connecting',
    live: 'Live',
    reconnecting: 'Reconnecting',
    offline: 'Offline',
    stopped: 'Stopped'
};


/*
 * The token comes in the URL fragment (#token=...), which browsers never
 * send to a server.  It is moved to sessionStorage and wiped from the
 * address bar so it does not end up in bookmarks, history or screenshots.
 */

function
takeToken()
{
    const frag = new URLSearchParams(location.hash.slice(1));
    const token = frag.get('token');

    if (token) {
        frag.delete('token');
        sessionStorage.setItem(TOKEN_KEY, token);

        const rest = frag.toString();

        history.replaceState(null, '', location.pathname + location.search
                             + (rest ? '#' + rest : ''));
        return token;
    }

    return sessionStorage.getItem(TOKEN_KEY);
}


function
wsUrl()
{
    const meta = document.querySelector('meta[name="devmon-ws"]');
    const url = new URL(meta?.content || '/ws', location.href);

    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';

    return url.toString();
}


/* the page asks the person for a token when nothing else provides one */

function
askToken(reason)
{
    const dialog = document.getElementById('token-dialog');
    const input = document.getElementById('token-input');

    document.getElementById('token-why').textContent =
        reason === 'account'
        ? 'The server no longer accepts this token for its account.'
        : reason === 'refused'
        ? 'The server refused the connection: the token may be invalid.'
        : 'The token has expired or is about to.';
    input.value = '';

    return new Promise((resolve) => {
        dialog.addEventListener('close', () => {
            const token = input.value.trim();

            if (token) {
                sessionStorage.setItem(TOKEN_KEY, token);
            }

            resolve(token || null);
        }, { once: true });

        dialog.showModal();
    });
}


/*
 * An embedding page may define window.devmonGetToken (an async function
 * returning a fresh JWT) before this script runs, e.g. one that asks its
 * own backend; otherwise the person is asked.
 */

async function
getToken(reason)
{
    if (typeof window.devmonGetToken === 'function') {
        const token = await window.devmonGetToken(reason);

        if (token) {
            sessionStorage.setItem(TOKEN_KEY, token);
        }

        return token;
    }

    return askToken(reason);
}


function
main()
{
    const client = new DevmonClient({
        url: wsUrl(),
        token: takeToken(),
        getToken: getToken,
        /* ids kept for the tests' exactly-once checks (an init script) */
        keepIds: Number(window.devmonKeepIds) || 0
    });
    const buffers = new Map();
    const statusLog = [];
    const banners = new Map();
    let frame = 0;

    const requestFrame = () => {
        if (frame === 0) {
            frame = requestAnimationFrame(() => {
                frame = 0;
                table.flush();
                view.flush();
            });
        }
    };

    const table = new DeviceTable({
        client: client,
        tbody: document.getElementById('rows'),
        thead: document.querySelector('#devices thead'),
        countEls: {
            all: document.getElementById('n-all'),
            up: document.getElementById('n-up'),
            degraded: document.getElementById('n-degraded'),
            down: document.getElementById('n-down'),
            unknown: document.getElementById('n-unknown')
        },
        shownEl: document.getElementById('shown'),
        emptyEl: document.getElementById('empty'),
        requestFrame: requestFrame,
        onOpen: (d) => {
            document.getElementById('overview').hidden = true;
            view.open(d);
        }
    });

    const view = new DeviceView({
        client: client,
        buffers: buffers,
        requestFrame: requestFrame,
        onClose: (d) => {
            document.getElementById('overview').hidden = false;
            document.querySelector('#rows button[data-d="' + CSS.escape(d)
                                   + '"]')?.focus();
        }
    });

    /* banners: one per topic, replaced or removed as things change */
    const banner = (topic, level, text, action) => {
        const box = document.getElementById('banners');
        let b = banners.get(topic);

        if (text === null) {
            b?.remove();
            banners.delete(topic);
            return;
        }

        if (!b) {
            b = document.createElement('div');
            banners.set(topic, b);
            box.appendChild(b);
        }

        b.className = 'banner banner-' + level;
        b.setAttribute('role', level === 'error' ? 'alert' : 'status');
        b.textContent = '';
        b.appendChild(document.createElement('span')).textContent = text;

        if (action) {
            const btn = document.createElement('button');

            btn.type = 'button';
            btn.textContent = action.label;
            btn.addEventListener('click', action.run);
            b.appendChild(btn);
        }
    };

    const dismiss = (topic) => ({
        label: 'Dismiss', run: () => banner(topic, null, null)
    });

    client.addEventListener('status', (ev) => {
        const { status } = ev.detail;
        const conn = document.getElementById('conn');

        statusLog.push({ t: Date.now(), status });

        if (statusLog.length > STATUS_LOG) {
            statusLog.splice(0, statusLog.length - STATUS_LOG);
        }
        conn.className = 'conn conn-' + status;
        document.getElementById('conn-text').textContent =
            STATUS_TEXT[status] ?? status;
    });

    client.addEventListener('snapshot', (ev) => {
        if (ev.detail.reset) {
            banner('reset', 'info', 'The connection was away longer than'
                   + ' the server keeps history: the table was reloaded and'
                   + ' some probe results in between are not in the charts.',
                   dismiss('reset'));
        }

        for (const e of ev.detail.state) {
            if (e && e.type === undefined && e.d !== undefined) {
                addProbe(e);
            }
        }

        /* the charts' buffers of devices that left go with them */
        for (const key of buffers.keys()) {
            if (!client.devices.has(key.slice(0, key.indexOf('|')))) {
                buffers.delete(key);
            }
        }

        table.rebuild();

        if (view.isOpen() && !client.devices.has(view.d)) {
            view.close();
        }

        requestFrame();
    });

    const addProbe = (e) => {
        const key = e.d + '|' + e.r + '|' + e.k;
        let buf = buffers.get(key);

        if (buf === undefined) {
            buf = new ProbeBuffer(BUFFER_PROBES);
            buffers.set(key, buf);
        }

        if (buf.length === 0 || buf.at(buf.length - 1).id !== e.id) {
            buf.push(e);
        }
    };

    client.addEventListener('event', (ev) => {
        const e = ev.detail;

        addProbe(e);
        table.touch(e.d);
        view.onProbe(e);
        requestFrame();
    });

    client.addEventListener('state', (ev) => {
        table.touch(ev.detail.d);
        requestFrame();
    });

    client.addEventListener('region', (ev) => {
        const { r, stale } = ev.detail;

        banner('region:' + r, 'warn', stale ? 'Region ' + r + ' has stopped'
               + ' reporting: its results are stale.' : null);
    });

    client.addEventListener('broker', (ev) => {
        banner('broker', 'error', ev.detail.state === 'down'
               ? 'The server lost its link to the event store: results are'
                 + ' paused and will catch up when it is back.' : null);
    });

    client.addEventListener('tokenrequired', (ev) => {
        const why = {
            account: 'This token is not valid for the account any more.',
            refused: 'The server refused the connection: the token may be'
                     + ' invalid, or the server unavailable.'
        };

        banner('token', 'error', why[ev.detail.reason]
               ?? 'The session token has expired.', {
                   label: 'Enter a token',
                   run: async () => {
                       const token = await askToken(ev.detail.reason);

                       /* empty after a refusal: try the same one again */
                       if (token || ev.detail.reason === 'refused') {
                           banner('token', null, null);
                           client.setToken(token || client.token);
                       }
                   }
               });
    });

    client.addEventListener('token', () => banner('token', null, null));

    client.addEventListener('servererror', (ev) => {
        console.warn('devmon server error:', ev.detail);
    });

    /* filters */
    const filterEl = document.getElementById('filter');
    let stateFilter = 'all';
    let filterTimer = null;

    filterEl.addEventListener('input', () => {
        clearTimeout(filterTimer);
        filterTimer = setTimeout(() =>
            table.setFilter(filterEl.value, stateFilter), 120);
    });

    document.getElementById('counts').addEventListener('click', (ev) => {
        const b = ev.target.closest('button[data-st]');

        if (!b) {
            return;
        }

        stateFilter = b.dataset.st;

        for (const x of document.querySelectorAll('#counts button')) {
            x.setAttribute('aria-pressed', String(x === b));
        }

        table.setFilter(filterEl.value, stateFilter);
    });

    /*
     * A hook for tests and for people debugging in the console; it
     * exposes nothing the page does not already hold, never the token.
     */
    window.__devmon = {
        eventIds: () => client.eventIds(),
        status: () => client.status,
        statusLog: () => statusLog.slice(),
        stats: () => JSON.parse(JSON.stringify(client.stats)),
        resume: () => client.resume.query(),
        snapshotId: () => client.snapshotId,
        chartData: () => view.plot ? view.plot.data.map((a) => Array.from(a))
                                   : null,
        chartX: (x) => view.plot ? view.plot.valToPos(x, 'x') : null,
        deviceState: (d) => client.deviceState(d),
        exportText: (format, scope) => view.exportText(format, scope),
        visible: () => view.visible.slice(),
        open: (d) => table.onOpen(d)
    };

    if (!client.token) {
        getToken('missing').then((token) => {
            if (token) {
                client.setToken(token);
            } else {
                client.needToken('missing');
            }
        });
        return;
    }

    client.start();
}


main();
