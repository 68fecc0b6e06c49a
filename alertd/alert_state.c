/* alert_state: per-device alert decisions: cooldowns, holds, flaps, regions */

#include <stdlib.h>
#include <string.h>

#include "alert_state.h"


#define ALERT_BUCKETS   4096


static void alert_state_eval(alert_acct_t *a, alert_dev_t *d, int64_t now);
static void alert_state_emit(alert_acct_t *a, alert_dev_t *d,
    const char *region, int kind, int st, int flag, int64_t now);
static void alert_state_undo(alert_acct_t *a, const alert_note_t *n);


const char  *alert_st_names[4] = DEVMON_ST_NAMES;
const char  *alert_kind_names[AK_N] = {
    "offline", "recovery", "degraded", "flapping", "region"
};


int
alert_st_parse(const char *s)
{
    int  i;

    for (i = 0; s != NULL && i < 4; i++) {
        if (strcmp(s, alert_st_names[i]) == 0) {
            return i;
        }
    }

    return AST_UNKNOWN;
}


/* takes o (NULL too: a failed json_pack) and returns its compact text */

char *
alert_json_dump(json_t *o)
{
    char  *s;

    if (o == NULL) {
        return NULL;
    }

    s = json_dumps(o, JSON_COMPACT);
    json_decref(o);

    return s;
}


int
alert_acct_init(alert_acct_t *a, const char *id, const alert_policy_t *policy)
{
    memset(a, 0, sizeof(alert_acct_t));

    snprintf(a->id, sizeof(a->id), "%s", id);
    a->policy = *policy;

    a->nbuckets = ALERT_BUCKETS;
    a->buckets = calloc(a->nbuckets, sizeof(alert_dev_t *));

    return a->buckets ? 0 : -1;
}


/* forgets everything in memory: Redis is the truth, reloaded after this */

void
alert_acct_reset(alert_acct_t *a)
{
    alert_dev_t  *d, *next;

    for (d = a->devs; d; d = next) {
        next = d->lnext;
        free(d);
    }

    memset(a->buckets, 0, a->nbuckets * sizeof(alert_dev_t *));
    a->devs = NULL;
    a->ndevs = 0;
    a->nregions = 0;
    a->npending = 0;
    a->nsaved = 0;
    a->pending_rewrite = 0;
    a->flushing = 0;
    a->window_due = 0;
}


void
alert_acct_free(alert_acct_t *a)
{
    alert_acct_reset(a);
    free(a->buckets);
    free(a->pending);
    a->buckets = NULL;
    a->pending = NULL;
}


alert_dev_t *
alert_dev_get(alert_acct_t *a, const char *device, const char *region,
    int create)
{
    uint32_t      h;
    alert_dev_t  *d;

    if (strlen(device) >= ALERT_IDLEN || strlen(region) >= ALERT_IDLEN) {
        return NULL;
    }

    h = devmon_hash(device, region) % a->nbuckets;

    for (d = a->buckets[h]; d; d = d->next) {
        if (strcmp(d->device, device) == 0
            && strcmp(d->region, region) == 0)
        {
            return d;
        }
    }

    if (!create) {
        return NULL;
    }

    d = calloc(1, sizeof(alert_dev_t));
    if (d == NULL) {
        return NULL;
    }

    strcpy(d->device, device);
    strcpy(d->region, region);
    d->cur = AST_UNKNOWN;
    d->ns = AST_UP;

    d->next = a->buckets[h];
    a->buckets[h] = d;
    d->lnext = a->devs;
    a->devs = d;
    a->ndevs++;

    return d;
}


alert_region_t *
alert_region_get(alert_acct_t *a, const char *name, int create)
{
    int              i;
    alert_region_t  *r;

    for (i = 0; i < a->nregions; i++) {
        if (strcmp(a->regions[i].name, name) == 0) {
            return &a->regions[i];
        }
    }

    if (!create || a->nregions == ALERT_MAXREGIONS
        || strlen(name) >= ALERT_IDLEN)
    {
        return NULL;
    }

    r = &a->regions[a->nregions++];
    memset(r, 0, sizeof(alert_region_t));
    strcpy(r->name, name);

    return r;
}


/*
 * Only state and region events matter here; probe results (most of the
 * stream) are recognised without parsing them: the events probed writes
 * begin with "type", and anything else is parsed only if it has one.  The
 * time is "t" when the event has one (published late), else the
 * milliseconds of its stream id (published when it happened).
 */

int
alert_event_parse(const char *id, const char *json, alert_event_t *ev,
    json_t **root)
{
    char        *end;
    json_t      *r, *v;
    const char  *type;

    *root = NULL;

    if (strncmp(json, "{\"type\":", 8) != 0
        && strstr(json, "\"type\"") == NULL)
    {
        return 0;
    }

    r = json_loads(json, 0, NULL);
    if (r == NULL) {
        return -1;
    }

    type = json_string_value(json_object_get(r, "type"));

    memset(ev, 0, sizeof(alert_event_t));

    ev->region = json_string_value(json_object_get(r, "r"));
    ev->t = json_integer_value(json_object_get(r, "t"));

    if (ev->t <= 0 && id != NULL) {
        ev->t = strtoll(id, &end, 10);

        if (*end != '-') {
            ev->t = 0;
        }
    }

    if (type == NULL || ev->region == NULL || ev->t <= 0) {
        json_decref(r);
        return 0;
    }

    if (strcmp(type, "region") == 0) {
        ev->region_ev = 1;
        v = json_object_get(r, "ok");
        ev->ok = v == NULL ? -1 : json_is_true(v);

    } else if (strcmp(type, "state") == 0) {
        ev->device = json_string_value(json_object_get(r, "d"));
        ev->st = alert_st_parse(json_string_value(json_object_get(r, "st")));
        ev->was = alert_st_parse(json_string_value(json_object_get(r, "was")));
        ev->er = json_string_value(json_object_get(r, "er"));
        v = json_object_get(r, "fl");
        ev->fl = v != NULL && (json_is_true(v) || json_integer_value(v) != 0);

        if (ev->device == NULL) {
            json_decref(r);
            return 0;
        }

    } else {
        json_decref(r);
        return 0;
    }

    *root = r;

    return 1;
}


void
alert_state_event(alert_acct_t *a, const alert_event_t *ev)
{
    int              was_flapping, sent, down, told_down;
    alert_dev_t     *d;
    alert_region_t  *rg;

    if (ev->region_ev) {
        if (ev->ok < 0) {
            return;
        }

        rg = alert_region_get(a, ev->region, 1);
        if (rg == NULL || rg->failed == !ev->ok) {
            return;
        }

        rg->failed = !ev->ok;
        rg->t = ev->t;
        rg->dirty = 1;

        alert_state_emit(a, NULL, rg->name, AK_REGION,
                         rg->failed ? AST_DOWN : AST_UP, 0, ev->t);

        if (rg->failed) {
            /* the region's view is not to be trusted: what it said in
             * this window is taken back, one region alert stands for it */
            alert_state_drop_region_notes(a);
            return;
        }

        /* what changed while the region was blind is told now */
        for (d = a->devs; d; d = d->lnext) {
            if (strcmp(d->region, rg->name) == 0) {
                alert_state_eval(a, d, ev->t);
                d->dirty = 1;
            }
        }

        return;
    }

    if (ev->st == AST_UNKNOWN) {
        return;
    }

    d = alert_dev_get(a, ev->device, ev->region, 1);
    if (d == NULL) {
        return;
    }

    if (ev->st != d->cur) {
        d->cur = ev->st;
        d->cur_t = ev->t;
    }

    if (ev->st != AST_UP) {
        snprintf(d->er, sizeof(d->er), "%s", ev->er ? ev->er : "");
    }

    was_flapping = d->flapping;
    d->flapping = ev->fl;
    d->dirty = 1;

    if (was_flapping && !d->flapping) {
        sent = d->flap_sent;
        d->flap_sent = 0;

        rg = alert_region_get(a, d->region, 0);
        down = d->cur == AST_DOWN;
        told_down = d->ns == AST_DOWN;

        if (sent && !down && told_down) {
            /* the recovery that follows says it is stable again */
            d->after_flap = 1;

        } else if (sent && down == told_down && !(rg && rg->failed)) {
            alert_state_emit(a, d, d->region, AK_FLAPPING, d->cur, 0,
                             ev->t);
        }
    }

    alert_state_eval(a, d, ev->t);
}


/*
 * The rules, per device and region:
 * - down, not yet told: an offline alert, unless the cooldown of the last
 *   one runs: then look again when it ends;
 * - up after an offline alert: a recovery once it stayed up for the hold,
 *   so a device bouncing back and forth does not recover each time;
 * - flapping: one flapping notice and nothing else until it stops;
 * - a region whose own check fails speaks for its devices.
 */

static void
alert_state_eval(alert_acct_t *a, alert_dev_t *d, int64_t now)
{
    alert_region_t  *rg;

    d->due = 0;

    rg = alert_region_get(a, d->region, 0);
    if (rg != NULL && rg->failed) {
        return;
    }

    if (d->flapping) {
        if (!d->flap_sent) {
            alert_state_emit(a, d, d->region, AK_FLAPPING, d->cur, 1, now);
            d->flap_sent = 1;
        }

        return;
    }

    if (d->cur == AST_DOWN) {
        if (d->ns == AST_DOWN) {
            return;
        }

        if (now < d->cd) {
            d->due = d->cd;
            return;
        }

        d->down_t = d->cur_t;
        alert_state_emit(a, d, d->region, AK_OFFLINE, AST_DOWN, 0, now);
        d->ns = AST_DOWN;
        d->nd = 0;
        d->cd = now + a->policy.cooldown;
        return;
    }

    if (d->cur != AST_UP && d->cur != AST_DEGRADED) {
        return;
    }

    if (d->ns == AST_DOWN) {
        if (now < d->cur_t + a->policy.hold) {
            d->due = d->cur_t + a->policy.hold;
            return;
        }

        alert_state_emit(a, d, d->region, AK_RECOVERY, d->cur, d->after_flap,
                         now);
        d->ns = AST_UP;
        d->nd = d->cur == AST_DEGRADED;
        d->after_flap = 0;
        return;
    }

    if (d->cur == AST_DEGRADED && !d->nd) {
        alert_state_emit(a, d, d->region, AK_DEGRADED, AST_DEGRADED, 0, now);
        d->nd = 1;

    } else if (d->cur == AST_UP && d->nd) {
        alert_state_emit(a, d, d->region, AK_DEGRADED, AST_UP, 0, now);
        d->nd = 0;
    }
}


void
alert_state_tick(alert_acct_t *a, int64_t now)
{
    alert_dev_t  *d;

    for (d = a->devs; d; d = d->lnext) {
        if (d->due != 0 && d->due <= now) {
            alert_state_eval(a, d, now);
            d->dirty = 1;
        }
    }
}


static void
alert_state_emit(alert_acct_t *a, alert_dev_t *d, const char *region,
    int kind, int st, int flag, int64_t now)
{
    alert_note_t  n;

    memset(&n, 0, sizeof(n));

    n.kind = kind;
    n.st = st;
    n.flag = flag;
    n.t = now;
    snprintf(n.region, sizeof(n.region), "%s", region);

    if (d != NULL) {
        snprintf(n.device, sizeof(n.device), "%s", d->device);
        snprintf(n.region, sizeof(n.region), "%s", d->region);
        snprintf(n.er, sizeof(n.er), "%s", st == AST_UP ? "" : d->er);
        n.t = d->cur_t;
        n.prev_ns = d->ns;
        n.prev_cd = d->cd;

        if (kind == AK_RECOVERY && d->down_t > 0) {
            n.down_ms = d->cur_t - d->down_t;
        }
    }

    alert_note_push(a, &n);
}


int
alert_note_push(alert_acct_t *a, const alert_note_t *n)
{
    int            c;
    alert_note_t  *p;

    if (a->npending == a->cpending) {
        c = a->cpending ? a->cpending * 2 : 16;
        p = realloc(a->pending, c * sizeof(alert_note_t));
        if (p == NULL) {
            return -1;
        }

        a->pending = p;
        a->cpending = c;
    }

    p = &a->pending[a->npending++];
    *p = *n;

    if (p->queued == 0) {
        p->queued = devmon_now_ms();
    }

    if (a->window_due == 0 || p->queued + a->policy.window < a->window_due) {
        a->window_due = p->queued + a->policy.window;
    }

    return 0;
}


/* takes back the pending device notes of regions whose check failed */

void
alert_state_drop_region_notes(alert_acct_t *a)
{
    int              i, j;
    alert_region_t  *rg;

    for (i = 0, j = 0; i < a->npending; i++) {
        rg = alert_region_get(a, a->pending[i].region, 0);

        if (a->pending[i].kind != AK_REGION && rg != NULL && rg->failed) {
            alert_state_undo(a, &a->pending[i]);
            continue;
        }

        a->pending[j++] = a->pending[i];
    }

    if (j != a->npending) {
        a->npending = j;
        a->pending_rewrite = 1;     /* rewritten, not appended */
        a->nsaved = 0;
    }
}


static void
alert_state_undo(alert_acct_t *a, const alert_note_t *n)
{
    alert_dev_t  *d;

    d = alert_dev_get(a, n->device, n->region, 0);
    if (d == NULL) {
        return;
    }

    switch (n->kind) {

    case AK_OFFLINE:
    case AK_RECOVERY:
        d->ns = n->prev_ns;
        d->cd = n->prev_cd;
        break;

    case AK_FLAPPING:
        d->flap_sent = !n->flag;
        break;

    case AK_DEGRADED:
        d->nd = n->st != AST_DEGRADED;
        break;
    }

    d->dirty = 1;
}


char *
alert_dev_encode(const alert_dev_t *d)
{
    json_t  *o;

    o = json_pack("{s:s,s:s,s:i,s:I,s:s,s:i,s:i,s:I,s:I,s:I,s:i,s:i,s:i}",
                  "d", d->device, "r", d->region, "cur", d->cur,
                  "ct", (json_int_t) d->cur_t, "er", d->er, "ns", d->ns,
                  "nd", d->nd, "dt", (json_int_t) d->down_t,
                  "cd", (json_int_t) d->cd, "due", (json_int_t) d->due,
                  "fl", (int) d->flapping, "fs", (int) d->flap_sent,
                  "af", (int) d->after_flap);

    return alert_json_dump(o);
}


int
alert_dev_decode(alert_acct_t *a, const char *json)
{
    int           fl, fs, af;
    json_t       *o;
    json_int_t    ct, dt, cd, due;
    const char   *dev, *reg, *er;
    alert_dev_t  *d;

    o = json_loads(json, 0, NULL);
    if (o == NULL) {
        return -1;
    }

    fl = fs = af = 0;
    ct = dt = cd = due = 0;
    er = "";

    if (json_unpack(o, "{s:s,s:s}", "d", &dev, "r", &reg) != 0
        || (d = alert_dev_get(a, dev, reg, 1)) == NULL)
    {
        json_decref(o);
        return -1;
    }

    json_unpack(o, "{s?i,s?I,s?s,s?i,s?i,s?I,s?I,s?I,s?i,s?i,s?i}",
                "cur", &d->cur, "ct", &ct, "er", &er, "ns", &d->ns,
                "nd", &d->nd, "dt", &dt, "cd", &cd, "due", &due,
                "fl", &fl, "fs", &fs, "af", &af);

    d->cur_t = ct;
    d->down_t = dt;
    d->cd = cd;
    d->due = due;
    d->flapping = fl != 0;
    d->flap_sent = fs != 0;
    d->after_flap = af != 0;
    snprintf(d->er, sizeof(d->er), "%s", er);

    json_decref(o);

    return 0;
}


char *
alert_region_encode(const alert_region_t *r)
{
    json_t  *o;

    o = json_pack("{s:s,s:i,s:I}", "r", r->name, "failed", r->failed,
                  "t", (json_int_t) r->t);

    return alert_json_dump(o);
}


int
alert_region_decode(alert_acct_t *a, const char *json)
{
    json_t          *o;
    json_int_t       t;
    const char      *name;
    alert_region_t  *r;

    o = json_loads(json, 0, NULL);
    if (o == NULL) {
        return -1;
    }

    t = 0;

    if (json_unpack(o, "{s:s}", "r", &name) != 0
        || (r = alert_region_get(a, name, 1)) == NULL)
    {
        json_decref(o);
        return -1;
    }

    json_unpack(o, "{s?i,s?I}", "failed", &r->failed, "t", &t);
    r->t = t;

    json_decref(o);

    return 0;
}


char *
alert_note_encode(const alert_note_t *n)
{
    json_t  *o;

    o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:i,s:I,s:i,s:I}",
                  "k", alert_kind_names[n->kind], "d", n->device,
                  "r", n->region, "t", (json_int_t) n->t,
                  "st", alert_st_names[n->st], "er", n->er,
                  "dm", (json_int_t) n->down_ms, "f", n->flag,
                  "q", (json_int_t) n->queued, "pn", n->prev_ns,
                  "pc", (json_int_t) n->prev_cd);

    return alert_json_dump(o);
}


int
alert_note_decode(const char *json, alert_note_t *n)
{
    int          i;
    json_t      *o;
    json_int_t   t, dm, q, pc;
    const char  *k, *d, *r, *st, *er;

    o = json_loads(json, 0, NULL);
    if (o == NULL) {
        return -1;
    }

    memset(n, 0, sizeof(alert_note_t));
    d = r = er = "";
    st = NULL;
    t = dm = q = pc = 0;

    if (json_unpack(o, "{s:s,s?s,s?s,s?I,s?s,s?s,s?I,s?i,s?I,s?i,s?I}",
                    "k", &k, "d", &d, "r", &r, "t", &t, "st", &st,
                    "er", &er, "dm", &dm, "f", &n->flag, "q", &q,
                    "pn", &n->prev_ns, "pc", &pc) != 0)
    {
        json_decref(o);
        return -1;
    }

    n->kind = -1;

    for (i = 0; i < AK_N; i++) {
        if (strcmp(k, alert_kind_names[i]) == 0) {
            n->kind = i;
        }
    }

    snprintf(n->device, sizeof(n->device), "%s", d);
    snprintf(n->region, sizeof(n->region), "%s", r);
    snprintf(n->er, sizeof(n->er), "%s", er);
    n->st = alert_st_parse(st);
    n->t = t;
    n->down_ms = dm;
    n->queued = q;
    n->prev_cd = pc;

    json_decref(o);

    return n->kind < 0 ? -1 : 0;
}
