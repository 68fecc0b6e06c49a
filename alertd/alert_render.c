/* alert_render: user preferences and the text of emails and webhook bodies */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "alert_render.h"


typedef struct {
    char           *p;
    size_t          len;
    size_t          cap;
} alert_buf_t;


static void alert_buf_put(alert_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void alert_line(alert_buf_t *b, const alert_note_t *n,
    const alert_devinfo_t *info);
static void alert_time(int64_t ms, char *buf, size_t size);
static void alert_duration(int64_t ms, char *buf, size_t size);
static void alert_header_safe(char *s);
static void alert_subject(alert_buf_t *b, const char *subject);
static json_t *alert_note_json(const char *account, const alert_note_t *n,
    const alert_devinfo_t *info);


/* the hash fields a user may set; alertctl checks against this list */
const char  *alert_user_keys[] = {
    "email", "webhook", "enabled", "offline", "recovery", "degraded",
    "flapping", "region", "channels", "webhook_format", NULL
};

static const int  alert_want_default[AK_N] = { 1, 1, 0, 1, 1 };


void
alert_user_init(alert_user_t *u, const char *id)
{
    memset(u, 0, sizeof(alert_user_t));

    snprintf(u->id, sizeof(u->id), "%s", id);
    memcpy(u->want, alert_want_default, sizeof(u->want));
    u->enabled = 1;
    u->channels = ALERT_CH_EMAIL | ALERT_CH_WEBHOOK;
}


/* printable ASCII without spaces: nothing that could end a header line
 * or an SMTP command */

static int
alert_printable(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


int
alert_email_ok(const char *v)
{
    const char  *at;

    at = strchr(v, '@');

    return strlen(v) < sizeof(((alert_user_t *) 0)->email)
           && alert_printable(v) && strpbrk(v, "<>,;:()[]\\\"") == NULL
           && at != NULL && at != v && at[1] != '\0'
           && strchr(at + 1, '@') == NULL;
}


int
alert_webhook_ok(const char *v)
{
    return strlen(v) < sizeof(((alert_user_t *) 0)->webhook)
           && alert_printable(v)
           && ((strncmp(v, "http://", 7) == 0 && v[7] != '\0')
               || (strncmp(v, "https://", 8) == 0 && v[8] != '\0'));
}


/*
 * Returns -1 for an unknown key or a bad value, and then changes nothing:
 * the hash can be written by anyone with Redis access, so a value is
 * checked before it is kept.  An empty value means "not set".
 */

int
alert_user_set(alert_user_t *u, const char *key, const char *value)
{
    int          i, on;
    const char  *p;

    on = strcmp(value, "1") == 0 || strcmp(value, "on") == 0
         || strcmp(value, "yes") == 0 || strcmp(value, "true") == 0;

    if (strcmp(key, "email") == 0) {
        if (value[0] != '\0' && !alert_email_ok(value)) {
            return -1;
        }

        snprintf(u->email, sizeof(u->email), "%s", value);
        return 0;
    }

    if (strcmp(key, "webhook") == 0) {
        if (value[0] != '\0' && !alert_webhook_ok(value)) {
            return -1;
        }

        snprintf(u->webhook, sizeof(u->webhook), "%s", value);
        return 0;
    }

    if (strcmp(key, "enabled") == 0) {
        u->enabled = on;
        return 0;
    }

    if (strcmp(key, "webhook_format") == 0) {
        u->slack = strcmp(value, "slack") == 0;
        return u->slack || strcmp(value, "json") == 0 ? 0 : -1;
    }

    if (strcmp(key, "channels") == 0) {
        u->channels = 0;

        for (p = value; *p; p += strcspn(p, ","), p += (*p == ',')) {
            if (strncmp(p, "email", 5) == 0 && (p[5] == ',' || !p[5])) {
                u->channels |= ALERT_CH_EMAIL;

            } else if (strncmp(p, "webhook", 7) == 0
                       && (p[7] == ',' || !p[7]))
            {
                u->channels |= ALERT_CH_WEBHOOK;

            } else if (strncmp(p, "none", 4) != 0) {
                return -1;
            }
        }

        return 0;
    }

    for (i = 0; i < AK_N; i++) {
        if (strcmp(key, alert_kind_names[i]) == 0) {
            u->want[i] = on;
            return 0;
        }
    }

    return -1;
}


int
alert_user_wants(const alert_user_t *u, const alert_note_t *n)
{
    return u->enabled && n->kind >= 0 && n->kind < AK_N && u->want[n->kind];
}


static void
alert_buf_put(alert_buf_t *b, const char *fmt, ...)
{
    int      n;
    char    *p;
    size_t   cap;
    va_list  ap;

    for ( ;; ) {
        va_start(ap, fmt);
        n = vsnprintf(b->p ? b->p + b->len : NULL,
                      b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);

        if (n < 0) {
            return;
        }

        if (b->p != NULL && b->len + n < b->cap) {
            b->len += n;
            return;
        }

        cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }

        p = realloc(b->p, cap);
        if (p == NULL) {
            return;
        }

        b->p = p;
        b->cap = cap;
    }
}


static void
alert_time(int64_t ms, char *buf, size_t size)
{
    time_t     t;
    struct tm  tm;

    t = (time_t) (ms / 1000);
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm);
}


static void
alert_duration(int64_t ms, char *buf, size_t size)
{
    int64_t  s;

    s = (ms + 500) / 1000;

    if (s < 60) {
        snprintf(buf, size, "%llds", (long long) s);

    } else if (s < 3600) {
        snprintf(buf, size, "%lldm %02llds", (long long) (s / 60),
                 (long long) (s % 60));

    } else {
        snprintf(buf, size, "%lldh %02lldm", (long long) (s / 3600),
                 (long long) (s / 60 % 60));
    }
}


/*
 * The subject as it goes into the header: at most ALERT_SUBJECT_MAX bytes
 * (cut at a character boundary), and RFC 2047 encoded-words ("B", UTF-8)
 * when it is not plain ASCII; each word stays under 76 characters and
 * never splits a UTF-8 sequence.
 */

#define ALERT_SUBJECT_MAX   200

static void
alert_subject(alert_buf_t *b, const char *subject)
{
    size_t                len, i, start, n, k;
    unsigned              v;
    int                   ascii;
    char                  out[80];
    static const char     b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "abcdefghijklmnopqrstuvwxyz0123456789+/";

    len = strlen(subject);

    if (len > ALERT_SUBJECT_MAX) {
        len = ALERT_SUBJECT_MAX;

        while (len > 0 && ((unsigned char) subject[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    ascii = 1;

    for (i = 0; i < len; i++) {
        if ((unsigned char) subject[i] >= 0x80) {
            ascii = 0;
        }
    }

    if (ascii) {
        alert_buf_put(b, "%.*s", (int) len, subject);
        return;
    }

    for (start = 0; start < len; start = i) {
        /* up to 39 bytes: 52 base64 characters, a 64-character word that
         * fits a 78-column line after "Subject: " */
        i = start + 39 < len ? start + 39 : len;

        while (i < len && i > start
               && ((unsigned char) subject[i] & 0xc0) == 0x80)
        {
            i--;
        }

        for (n = 0, k = start; k < i; k += 3) {
            v = (unsigned char) subject[k] << 16;
            v |= k + 1 < i ? (unsigned char) subject[k + 1] << 8 : 0;
            v |= k + 2 < i ? (unsigned char) subject[k + 2] : 0;

            out[n++] = b64[(v >> 18) & 63];
            out[n++] = b64[(v >> 12) & 63];
            out[n++] = k + 1 < i ? b64[(v >> 6) & 63] : '=';
            out[n++] = k + 2 < i ? b64[v & 63] : '=';
        }

        alert_buf_put(b, "%s=?UTF-8?B?%.*s?=", start ? "\r\n " : "",
                      (int) n, out);
    }
}


/* where a message goes, fit for a log: a webhook URL may hold a secret
 * in its path or query, so only its scheme and host are shown */

void
alert_msg_dest(const alert_msg_t *m, char *buf, size_t size)
{
    size_t       n;
    const char  *p, *at;

    if (m->channel == ALERT_CH_EMAIL) {
        snprintf(buf, size, "%s", m->to);
        return;
    }

    p = strstr(m->to, "://");
    p = p ? p + 3 : m->to;
    n = strcspn(p, "/?#");

    /* user:password@ is a secret too */
    at = memchr(p, '@', n);
    if (at != NULL) {
        n -= at + 1 - p;
        p = at + 1;
    }

    snprintf(buf, size, "%s://%.*s/...",
             strncmp(m->to, "https:", 6) == 0 ? "https" : "http", (int) n, p);
}


/* names and addresses come from configuration: never let one end a header */

static void
alert_header_safe(char *s)
{
    for ( /* void */ ; *s; s++) {
        if ((unsigned char) *s < 0x20) {
            *s = ' ';
        }
    }
}


static const char *
alert_headline(const alert_note_t *n)
{
    switch (n->kind) {

    case AK_OFFLINE:
        return "OFFLINE";

    case AK_RECOVERY:
        return "RECOVERED";

    case AK_DEGRADED:
        return n->st == AST_DEGRADED ? "DEGRADED" : "NO LONGER DEGRADED";

    case AK_FLAPPING:
        return n->flag ? "FLAPPING" : "FLAPPING STOPPED";

    default:
        return n->st == AST_DOWN ? "REGION CHECK FAILED" : "REGION CHECK OK";
    }
}


/* one line saying everything about one notification */

static void
alert_line(alert_buf_t *b, const alert_note_t *n, const alert_devinfo_t *info)
{
    char  when[64], dur[32];

    alert_time(n->t, when, sizeof(when));

    if (n->kind == AK_REGION) {
        alert_buf_put(b, "%s: region %s at %s%s", alert_headline(n),
                      n->region, when, n->st == AST_DOWN
                      ? " (alerts for its devices are held back)" : "");
        return;
    }

    alert_buf_put(b, "%s: %s", alert_headline(n), n->device);

    if (info->name[0] && strcmp(info->name, n->device) != 0) {
        alert_buf_put(b, " (%s)", info->name);
    }

    alert_buf_put(b, ", address %s, region %s, at %s",
                  info->address[0] ? info->address : "unknown", n->region,
                  when);

    if (n->er[0]) {
        alert_buf_put(b, ", reason %s", n->er);
    }

    if (n->kind == AK_RECOVERY && n->down_ms > 0) {
        alert_duration(n->down_ms, dur, sizeof(dur));
        alert_buf_put(b, ", down for %s", dur);
    }

    if (n->kind == AK_RECOVERY && n->flag) {
        alert_buf_put(b, ", stable after flapping");
    }

    if (n->kind == AK_FLAPPING || n->kind == AK_RECOVERY) {
        alert_buf_put(b, ", now %s", alert_st_names[n->st]);
    }
}


static json_t *
alert_note_json(const char *account, const alert_note_t *n,
    const alert_devinfo_t *info)
{
    char          when[64];
    json_t       *o;
    alert_buf_t   line;

    memset(&line, 0, sizeof(line));
    alert_line(&line, n, info);
    alert_time(n->t, when, sizeof(when));

    o = json_pack("{s:s,s:s,s:s,s:I,s:s,s:s,s:s}",
                  "kind", alert_kind_names[n->kind], "account", account,
                  "region", n->region, "t", (json_int_t) n->t, "time", when,
                  "st", alert_st_names[n->st], "text", line.p ? line.p : "");
    free(line.p);

    if (o == NULL) {
        return NULL;
    }

    if (n->kind != AK_REGION) {
        json_object_set_new(o, "device", json_string(n->device));
        json_object_set_new(o, "name", json_string(info->name));
        json_object_set_new(o, "address", json_string(info->address));
    }

    if (n->er[0]) {
        json_object_set_new(o, "er", json_string(n->er));
    }

    if (n->kind == AK_RECOVERY) {
        json_object_set_new(o, "down_s", json_real(n->down_ms / 1000.0));
    }

    if (n->kind == AK_FLAPPING) {
        json_object_set_new(o, "flapping", json_boolean(n->flag));
    }

    return o;
}


/*
 * One message for one user on one channel: a single notification, or a
 * digest of several (a storm).  Returns NULL when out of memory.
 */

alert_msg_t *
alert_render(const char *account, const alert_user_t *u, int channel,
    const alert_note_t *notes, const alert_devinfo_t *info, int n,
    int digest, const char *from, const char *prefix, const char *id)
{
    int           i;
    char          subject[1024], date[64], *s;
    time_t        now;
    json_t       *o, *list;
    struct tm     tm;
    alert_buf_t   b, line;
    alert_msg_t  *m;

    memset(&b, 0, sizeof(b));
    memset(&line, 0, sizeof(line));

    if (digest) {
        snprintf(subject, sizeof(subject), "%s %s: %d alerts (digest)",
                 prefix, account, n);

    } else if (notes[0].kind == AK_REGION) {
        snprintf(subject, sizeof(subject), "%s %s: region %s %s", prefix,
                 alert_headline(&notes[0]), notes[0].region, account);

    } else {
        snprintf(subject, sizeof(subject), "%s %s: %s%s%s%s in %s/%s",
                 prefix, alert_headline(&notes[0]), notes[0].device,
                 info[0].name[0] ? " (" : "", info[0].name,
                 info[0].name[0] ? ")" : "", account, notes[0].region);
    }

    alert_header_safe(subject);

    if (channel == ALERT_CH_WEBHOOK && u->slack) {
        alert_buf_put(&line, "%s", subject);

        for (i = 0; i < n; i++) {
            alert_buf_put(&line, "\n");
            alert_line(&line, &notes[i], &info[i]);
        }

        o = json_pack("{s:s}", "text", line.p ? line.p : "");

    } else if (channel == ALERT_CH_WEBHOOK && !digest) {
        o = alert_note_json(account, &notes[0], &info[0]);

    } else if (channel == ALERT_CH_WEBHOOK) {
        list = json_array();

        for (i = 0; i < n; i++) {
            json_array_append_new(list,
                                  alert_note_json(account, &notes[i],
                                                  &info[i]));
        }

        o = json_pack("{s:s,s:s,s:i,s:o}", "kind", "digest", "account",
                      account, "count", n, "alerts", list);

    } else {
        o = NULL;
    }

    if (channel == ALERT_CH_WEBHOOK) {
        free(line.p);

        s = alert_json_dump(o);
        if (s == NULL) {
            return NULL;
        }

        m = alert_msg_new(id, account, channel, u->webhook, s);
        free(s);

        return m;
    }

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);

    alert_buf_put(&b, "From: devmon <%s>\r\nTo: <%s>\r\nSubject: ",
                  from, u->email);
    alert_subject(&b, subject);
    alert_buf_put(&b, "\r\n"
                  "Date: %s\r\nMessage-ID: <%s.%s@devmon>\r\n"
                  "MIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: 8bit\r\n"
                  "X-Devmon-Account: %s\r\nX-Devmon-Kind: %s\r\n\r\n",
                  date, id, account, account,
                  digest ? "digest" : alert_kind_names[notes[0].kind]);

    if (digest) {
        alert_buf_put(&b, "%d alerts for account %s arrived together "
                      "(a storm: one message instead of one each):\r\n\r\n",
                      n, account);
    }

    for (i = 0; i < n; i++) {
        alert_line(&line, &notes[i], &info[i]);
        alert_buf_put(&b, "%s%s\r\n", digest ? "- " : "", line.p);
        line.len = 0;
    }

    if (!digest && notes[0].kind != AK_REGION) {
        alert_time(notes[0].t, date, sizeof(date));
        alert_buf_put(&b, "\r\nDevice:   %s\r\nName:     %s\r\n"
                      "Address:  %s\r\nAccount:  %s\r\nRegion:   %s\r\n"
                      "State:    %s\r\nChanged:  %s\r\n",
                      notes[0].device, info[0].name, info[0].address,
                      account, notes[0].region,
                      alert_st_names[notes[0].st], date);

        if (notes[0].er[0]) {
            alert_buf_put(&b, "Reason:   %s\r\n", notes[0].er);
        }

        if (notes[0].kind == AK_RECOVERY) {
            alert_duration(notes[0].down_ms, date, sizeof(date));
            alert_buf_put(&b, "Down for: %s\r\n", date);
        }
    }

    free(line.p);

    if (b.p == NULL) {
        return NULL;
    }

    m = alert_msg_new(id, account, channel, u->email, b.p);
    free(b.p);

    return m;
}


alert_msg_t *
alert_msg_new(const char *id, const char *account, int channel,
    const char *to, const char *body)
{
    alert_msg_t  *m;

    m = calloc(1, sizeof(alert_msg_t));
    if (m == NULL) {
        return NULL;
    }

    snprintf(m->id, sizeof(m->id), "%s", id);
    snprintf(m->account, sizeof(m->account), "%s", account);
    m->channel = channel;
    m->to = strdup(to);
    m->body = strdup(body);
    m->created = devmon_now_ms();

    if (m->to == NULL || m->body == NULL) {
        alert_msg_free(m);
        return NULL;
    }

    return m;
}


void
alert_msg_free(alert_msg_t *m)
{
    if (m != NULL) {
        free(m->to);
        free(m->body);
        free(m);
    }
}


char *
alert_msg_encode(const alert_msg_t *m)
{
    json_t  *o;

    o = json_pack("{s:s,s:s,s:s,s:I,s:i,s:I}",
                  "ch", m->channel == ALERT_CH_EMAIL ? "email" : "webhook",
                  "to", m->to, "body", m->body,
                  "c", (json_int_t) m->created, "n", m->attempts,
                  "w", (json_int_t) m->next_try);

    return alert_json_dump(o);
}


alert_msg_t *
alert_msg_decode(const char *account, const char *id, const char *json)
{
    int           n;
    json_t       *o;
    json_int_t    c, w;
    const char   *ch, *to, *body;
    alert_msg_t  *m;

    o = json_loads(json, 0, NULL);
    if (o == NULL) {
        return NULL;
    }

    c = 0;
    n = 0;
    w = 0;

    if (json_unpack(o, "{s:s,s:s,s:s,s?I,s?i,s?I}", "ch", &ch, "to", &to,
                    "body", &body, "c", &c, "n", &n, "w", &w) != 0)
    {
        json_decref(o);
        return NULL;
    }

    m = alert_msg_new(id, account, strcmp(ch, "email") == 0
                      ? ALERT_CH_EMAIL : ALERT_CH_WEBHOOK, to, body);

    if (m != NULL) {
        m->created = c ? c : m->created;
        m->attempts = n;
        m->next_try = w;
    }

    json_decref(o);

    return m;
}
