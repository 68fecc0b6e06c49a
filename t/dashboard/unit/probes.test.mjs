/* probes.test.mjs: median colouring, probe ring buffer, CSV/JSON export. */

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { median, classify, ProbeBuffer, chartData, phaseData, flagProbes,
         toCSV, toJSON, NORMAL, AMBER, RED } from
         '../../../dashboard/probes.js';
import { formatMs, formatPct, deviceRow, lossOf } from
         '../../../dashboard/table.js';
import { DevmonClient } from '../../../dashboard/devmon.js';


const probe = (i, rt, extra = {}) => Object.assign({
    id: (1000 + i) + '-0', t: 1700000000000 + i * 1000, d: 'web1', r: 'lab',
    k: 'http', st: 'up', rt: rt, pl: 0
}, extra);


test('median of odd and even counts, ignoring missing values', () => {
    assert.equal(median([]), null);
    assert.equal(median([null, undefined, NaN]), null);
    assert.equal(median([5]), 5);
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([10, null, 30, 20]), 20);
});

test('points at 2x the median are amber, at 3x red', () => {
    assert.equal(classify(19.9, 10), NORMAL);
    assert.equal(classify(20, 10), AMBER);
    assert.equal(classify(29.9, 10), AMBER);
    assert.equal(classify(30, 10), RED);
    assert.equal(classify(null, 10), NORMAL);
    assert.equal(classify(5, 0), NORMAL, 'zero median flags nothing');
    assert.equal(classify(5, null), NORMAL);
});

test('chart data splits points by colour against the given median', () => {
    const ps = [probe(0, 10), probe(1, 10), probe(2, 21), probe(3, 35),
                probe(4, null, { st: 'down', er: 'timeout' })];
    const c = chartData(ps);

    assert.equal(c.median, 15.5);
    assert.deepEqual(c.flags, [NORMAL, NORMAL, NORMAL, AMBER, NORMAL]);
    assert.deepEqual(c.data[0], ps.map((p) => p.t / 1000));
    assert.deepEqual(c.data[1], [10, 10, 21, 35, null]);
    assert.deepEqual(c.data[2], [10, 10, 21, null, null]);
    assert.deepEqual(c.data[3], [null, null, null, 35, null]);
    assert.deepEqual(c.data[4], [null, null, null, null, null]);

    /* zoomed to the first two probes: the visible median is 10 */
    const z = chartData(ps, median([10, 10]));

    assert.deepEqual(z.flags, [NORMAL, NORMAL, AMBER, RED, NORMAL]);
});

test('HTTP phases stack as cumulative sums, TTFB total first', () => {
    const ps = [probe(0, 9, { dn: 1, cn: 2, tl: 3, ft: 3 }),
                probe(1, 4, { dn: 1, cn: 1, ft: 2 })];
    const d = phaseData(ps);

    assert.deepEqual(d[1], [9, 4]);
    assert.deepEqual(d[2], [6, 2]);
    assert.deepEqual(d[3], [3, 2]);
    assert.deepEqual(d[4], [1, 1]);
});

test('the ring buffer keeps the newest probes in time order', () => {
    const b = new ProbeBuffer(3);

    for (let i = 0; i < 5; i++) {
        b.push(probe(i, i));
    }

    assert.deepEqual(b.toArray().map((p) => p.rt), [2, 3, 4]);

    /* a late probe is placed by its time */
    b.push(probe(3.5, 99));
    assert.deepEqual(b.toArray().map((p) => p.rt), [3, 99, 4]);
    assert.deepEqual(b.range(1700000003400, null).map((p) => p.rt), [99, 4]);
    assert.deepEqual(b.range(null, 1700000003000).map((p) => p.rt), [3]);
});

test('CSV export: header, one row per probe, flags as text, quoting', () => {
    const ps = [probe(0, 10, { sc: 200, dn: 1, cn: 2, ft: 7 }),
                probe(1, 10), probe(2, 10),
                probe(3, 25, { er: 'http_status', sc: 500, st: 'down' }),
                probe(4, 40, { d: 'we"b,1' }),
                probe(5, 10, { er: '=cmd()' })];
    const csv = toCSV(ps);
    const lines = csv.split('\r\n');

    assert.equal(lines.length, ps.length + 2);
    assert.equal(lines.at(-1), '');
    assert.equal(lines[0], 'id,time,device,region,kind,status,rt_ms,'
                 + 'loss_pct,status_code,dns_ms,connect_ms,tls_ms,ttfb_ms,'
                 + 'error,flag');
    assert.equal(lines[1], '1000-0,2023-11-14T22:13:20.000Z,web1,lab,http,'
                 + 'up,10,0,200,1,2,,7,,');
    assert.equal(lines[4], '1003-0,2023-11-14T22:13:23.000Z,web1,lab,http,'
                 + 'down,25,0,500,,,,,http_status,>=2x median');
    assert.equal(lines[5], '1004-0,2023-11-14T22:13:24.000Z,"we""b,1",lab,'
                 + 'http,up,40,0,,,,,,,>=3x median');
    /* a spreadsheet must not run a formula from the data */
    assert.match(lines[6], /,"'=cmd\(\)",$/);
});

test('JSON export carries the median and each probe flag', () => {
    const ps = [probe(0, 10), probe(1, 10), probe(2, 31)];
    const j = JSON.parse(toJSON(ps));

    assert.equal(j.median_rt, 10);
    assert.equal(j.probes.length, 3);
    assert.equal(j.probes[2].flag, '>=3x median');
    assert.equal(j.probes[0].flag, null);
    assert.equal(j.probes[2].id, '1002-0');
    assert.deepEqual(flagProbes(ps).flags, [NORMAL, NORMAL, RED]);
});

test('table figures come from the first check kind and newest result',
     () => {
    const c = new DevmonClient({ url: 'ws://127.0.0.1:1/ws' });

    c.handle({ type: 'snapshot', epoch: '1',
               devices: [{ d: 'r1', n: 'Router', a: '127.0.0.5',
                           rg: ['a', 'b'], k: ['icmp', 'http'] }],
               state: [
                   { id: '1-0', d: 'r1', r: 'a', k: 'icmp', t: 5, st: 'up',
                     rt: 2, pl: 0 },
                   { id: '2-0', d: 'r1', r: 'b', k: 'icmp', t: 7,
                     st: 'degraded', rt: 9, pl: 33.3 },
                   { id: '3-0', d: 'r1', r: 'a', k: 'http', t: 8, st: 'up',
                     rt: 40 }] });

    const v = deviceRow(c, 'r1');

    assert.equal(v.n, 'Router');
    assert.equal(v.rg, 'a, b');
    assert.equal(v.st, 'degraded');
    assert.equal(v.rt, 9);
    assert.equal(v.pl, 33.3);
    assert.equal(v.t, 8);

    /* events published at once have no "t": the last check is the id's */
    c.handle({ id: '9000-0', d: 'r1', r: 'b', k: 'icmp', st: 'up', rt: 3 });
    assert.equal(deviceRow(c, 'r1').t, 9000, 'time from the stream id');
    assert.equal(deviceRow(c, 'r1').rt, 3, 'the newest result by that time');

    const pb = new ProbeBuffer(10);

    pb.push({ id: '5000-0', d: 'r1', r: 'b', k: 'icmp', st: 'up', rt: 1 });
    pb.push({ id: '9000-0', t: 4000, d: 'r1', r: 'b', k: 'icmp', st: 'up',
              rt: 2 });
    assert.deepEqual(pb.toArray().map((p) => [p.id, p.t]),
                     [['9000-0', 4000], ['5000-0', 5000]],
                     'a probe\'s time: "t", else the id\'s; placed by time');
    assert.equal(formatMs(1.234), '1.23 ms');
    assert.equal(formatMs(123.4), '123 ms');
    assert.equal(formatMs(null), '\u2013');
    assert.equal(formatPct(33.3), '33.3 %');
    assert.equal(formatPct(0), '0 %');
    assert.equal(lossOf({ k: 'icmp', rt: 0.2 }), 0, 'omitted zero loss');
    assert.equal(lossOf({ k: 'icmp', st: 'down' }), null);
    assert.equal(lossOf({ k: 'http', rt: 3 }), null);
    assert.equal(lossOf({ k: 'icmp', rt: 1, pl: 33.3 }), 33.3);
});
