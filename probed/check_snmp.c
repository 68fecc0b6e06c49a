/* check_snmp: SNMP v2c/v3 GETs with net-snmp's single-session async API */

#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/select.h>

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/util.h>

#include "log.h"
#include "check.h"


#define SNMP_MAXIF          32
#define SNMP_WALK_MAX       64          /* GETBULK rounds over ifDescr */
#define SNMP_WRAP           0xF0000000u


typedef enum {
    SNMP_IDLE = 0,
    SNMP_RESOLVE,
    SNMP_WALK,                          /* ifDescr -> ifIndex */
    SNMP_GET
} snmp_step_e;


typedef struct {
    probe_t            *probe;
    void               *sess;           /* net-snmp single session */
    int                 fd;
    struct event       *read_ev;
    struct event       *timer_ev;
    struct event       *done_ev;
    int                 step;
    int                 rounds;
    int                 retried;
    int64_t             t0;
    char                peer[128];
    uint32_t            uptime;         /* last sysUpTime, ticks */
    unsigned            has_uptime:1;
    unsigned            mapped:1;
    int                 ifindex[SNMP_MAXIF];
    int                 nreq_oids;      /* extra OIDs in the GET sent */
    int                 nreq_if;        /* interface varbinds after them */
    int                 req_if[SNMP_MAXIF]; /* their interface numbers */
    oid                 walk[MAX_OID_LEN];
    size_t              walk_len;
    result_t            result;
} snmp_ctx_t;


static void check_snmp_resolved(int err, struct evutil_addrinfo *ai,
    void *arg);
static int check_snmp_open(snmp_ctx_t *c);
static void check_snmp_send(snmp_ctx_t *c);
static int check_snmp_cb(int op, netsnmp_session *s, int reqid,
    netsnmp_pdu *pdu, void *magic);
static void check_snmp_on_read(evutil_socket_t fd, short what, void *arg);
static void check_snmp_on_timer(evutil_socket_t fd, short what, void *arg);
static void check_snmp_on_done(evutil_socket_t fd, short what, void *arg);
static void check_snmp_rearm(snmp_ctx_t *c);
static void check_snmp_end(snmp_ctx_t *c, int st, const char *er);
static void check_snmp_close(snmp_ctx_t *c);
static void check_snmp_oid(char *buf, size_t size, const oid *o,
    size_t len);


static struct event_base  *snmp_base;

static oid  snmp_sysuptime[] = { 1, 3, 6, 1, 2, 1, 1, 3, 0 };
static oid  snmp_ifdescr[] = { 1, 3, 6, 1, 2, 1, 2, 2, 1, 2 };
static oid  snmp_ifoper[] = { 1, 3, 6, 1, 2, 1, 2, 2, 1, 8 };
static oid  snmp_usmstats[] = { 1, 3, 6, 1, 6, 3, 15, 1, 1 };


int
check_snmp_init(struct event_base *base)
{
    snmp_base = base;

    /* no MIB files (numeric OIDs only) and no state written to disk */
    setenv("MIBS", "", 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
                           NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
                           NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
    netsnmp_ds_set_boolean(NETSNMP_DS_LIBRARY_ID,
                           NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
    snmp_disable_log();

    init_snmp("probed");

    return 0;
}


void
check_snmp_run(probe_t *p)
{
    result_t                 r;
    snmp_ctx_t              *c;
    struct evutil_addrinfo   hints;

    c = p->kctx;

    if (c == NULL) {
        c = calloc(1, sizeof(snmp_ctx_t));
        if (c == NULL) {
            result_init(&r, KIND_SNMP);
            r.er = "internal";
            probe_done(p, &r);
            return;
        }

        c->fd = -1;
        c->timer_ev = evtimer_new(snmp_base, check_snmp_on_timer, c);
        c->done_ev = evtimer_new(snmp_base, check_snmp_on_done, c);
        p->kctx = c;
    }

    c->probe = p;
    c->t0 = devmon_mono_us();
    c->retried = 0;
    result_init(&c->result, KIND_SNMP);

    if (c->sess != NULL) {
        c->step = (p->cc->ninterfaces && !c->mapped) ? SNMP_WALK : SNMP_GET;
        c->rounds = 0;
        c->walk_len = 0;
        check_snmp_send(c);
        return;
    }

    /* the session wants a numeric peer: names are resolved off the loop */
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;

    c->step = SNMP_RESOLVE;
    evdns_getaddrinfo(probe_dns, p->dev->cd->address, NULL, &hints,
                      check_snmp_resolved, c);
}


static void
check_snmp_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
    char         host[64];
    snmp_ctx_t  *c;

    c = arg;

    if (err != 0 || ai == NULL) {
        check_snmp_end(c, ST_DOWN, "dns");
        return;
    }

    if (ai->ai_family == AF_INET6) {
        evutil_inet_ntop(AF_INET6,
                         &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr,
                         host, sizeof(host));
        snprintf(c->peer, sizeof(c->peer), "udp6:[%s]:%d", host,
                 c->probe->cc->port);
    } else {
        evutil_inet_ntop(AF_INET,
                         &((struct sockaddr_in *) ai->ai_addr)->sin_addr,
                         host, sizeof(host));
        snprintf(c->peer, sizeof(c->peer), "udp:%s:%d", host,
                 c->probe->cc->port);
    }

    evutil_freeaddrinfo(ai);

    if (check_snmp_open(c) != 0) {
        return;
    }

    c->step = c->probe->cc->ninterfaces ? SNMP_WALK : SNMP_GET;
    c->rounds = 0;
    c->walk_len = 0;

    check_snmp_send(c);
}


static int
check_snmp_open(snmp_ctx_t *c)
{
    int                 rc;
    oid                *proto;
    size_t              plen;
    conf_check_t       *cc;
    netsnmp_session     s;
    netsnmp_transport  *t;
    static oid         *auths[6];
    static oid         *privs[2];

    cc = c->probe->cc;
    rc = SNMPERR_SUCCESS;

    auths[0] = usmHMACMD5AuthProtocol;
    auths[1] = usmHMACSHA1AuthProtocol;
    auths[2] = usmHMAC128SHA224AuthProtocol;
    auths[3] = usmHMAC192SHA256AuthProtocol;
    auths[4] = usmHMAC256SHA384AuthProtocol;
    auths[5] = usmHMAC384SHA512AuthProtocol;
    privs[0] = usmDESPrivProtocol;
    privs[1] = usmAESPrivProtocol;

    snmp_sess_init(&s);

    s.peername = c->peer;
    s.timeout = (long) (cc->timeout * 1e6);
    s.retries = cc->retries;
    s.callback = check_snmp_cb;
    s.callback_magic = c;

    if (cc->snmp_version == SNMP_V2C) {
        s.version = SNMP_VERSION_2c;
        s.community = (u_char *) cc->community;
        s.community_len = strlen(cc->community);

    } else {
        s.version = SNMP_VERSION_3;
        s.securityName = cc->user;
        s.securityNameLen = strlen(cc->user);
        s.securityModel = SNMP_SEC_MODEL_USM;

        /* net-snmp's engine ID probe at open is a blocking exchange;
         * without it the first request's report teaches it the engine
         * and the request is resent, all inside the async machinery */
        s.flags |= SNMP_FLAGS_DONT_PROBE;

        s.securityLevel = SNMP_SEC_LEVEL_NOAUTH;

        if (cc->auth_pass[0]) {
            proto = auths[cc->auth_proto];
            plen = USM_AUTH_PROTO_MD5_LEN;
            s.securityAuthProto = snmp_duplicate_objid(proto, plen);
            s.securityAuthProtoLen = plen;
            s.securityAuthKeyLen = USM_AUTH_KU_LEN;
            s.securityLevel = SNMP_SEC_LEVEL_AUTHNOPRIV;

            rc = generate_Ku(s.securityAuthProto, s.securityAuthProtoLen,
                             (u_char *) cc->auth_pass, strlen(cc->auth_pass),
                             s.securityAuthKey, &s.securityAuthKeyLen);
        }

        if (rc == SNMPERR_SUCCESS && cc->priv_pass[0]) {
            proto = privs[cc->priv_proto];
            plen = USM_PRIV_PROTO_DES_LEN;
            s.securityPrivProto = snmp_duplicate_objid(proto, plen);
            s.securityPrivProtoLen = plen;
            s.securityPrivKeyLen = USM_PRIV_KU_LEN;
            s.securityLevel = SNMP_SEC_LEVEL_AUTHPRIV;

            rc = generate_Ku(s.securityAuthProto, s.securityAuthProtoLen,
                             (u_char *) cc->priv_pass, strlen(cc->priv_pass),
                             s.securityPrivKey, &s.securityPrivKeyLen);
        }

        if (rc != SNMPERR_SUCCESS) {
            free(s.securityAuthProto);
            free(s.securityPrivProto);
            check_snmp_end(c, ST_UNKNOWN, "snmp_auth");
            return -1;
        }
    }

    c->sess = snmp_sess_open(&s);

    free(s.securityAuthProto);
    free(s.securityPrivProto);

    if (c->sess == NULL) {
        log_error("%s/%s: snmp: cannot open a session to %s",
                  c->probe->dev->acct->id, c->probe->dev->cd->id, c->peer);
        check_snmp_end(c, ST_UNKNOWN, "internal");
        return -1;
    }

    t = snmp_sess_transport(c->sess);
    c->fd = t ? t->sock : -1;

    if (c->fd < 0) {
        check_snmp_end(c, ST_UNKNOWN, "internal");
        return -1;
    }

    c->read_ev = event_new(snmp_base, c->fd, EV_READ | EV_PERSIST,
                           check_snmp_on_read, c);
    event_add(c->read_ev, NULL);

    return 0;
}


static void
check_snmp_send(snmp_ctx_t *c)
{
    int             i, err;
    oid             o[MAX_OID_LEN];
    size_t          olen;
    conf_check_t   *cc;
    netsnmp_pdu    *pdu;

    cc = c->probe->cc;

    switch (c->step) {

    case SNMP_WALK:
        pdu = snmp_pdu_create(SNMP_MSG_GETBULK);
        pdu->non_repeaters = 0;
        pdu->max_repetitions = 32;

        if (c->walk_len == 0) {
            memcpy(c->walk, snmp_ifdescr, sizeof(snmp_ifdescr));
            c->walk_len = OID_LENGTH(snmp_ifdescr);
        }

        snmp_add_null_var(pdu, c->walk, c->walk_len);
        break;

    default:
        /* the answer is read by position: uptime, the extra OIDs, then
         * the interfaces, as recorded here */
        pdu = snmp_pdu_create(SNMP_MSG_GET);
        snmp_add_null_var(pdu, snmp_sysuptime, OID_LENGTH(snmp_sysuptime));

        c->nreq_oids = 0;
        c->nreq_if = 0;

        for (i = 0; i < cc->noids; i++) {
            olen = MAX_OID_LEN;
            if (read_objid(cc->oids[i], o, &olen)) {
                snmp_add_null_var(pdu, o, olen);
                c->nreq_oids++;
            }
        }

        for (i = 0; i < cc->ninterfaces && i < SNMP_MAXIF; i++) {
            if (c->ifindex[i] > 0) {
                memcpy(o, snmp_ifoper, sizeof(snmp_ifoper));
                o[OID_LENGTH(snmp_ifoper)] = c->ifindex[i];
                snmp_add_null_var(pdu, o, OID_LENGTH(snmp_ifoper) + 1);
                c->req_if[c->nreq_if++] = i;
            }
        }

        break;
    }

    if (pdu == NULL) {
        check_snmp_end(c, ST_UNKNOWN, "internal");
        return;
    }

    if (snmp_sess_async_send(c->sess, pdu, check_snmp_cb, c) == 0) {
        err = snmp_sess_session(c->sess)->s_snmp_errno;

        snmp_free_pdu(pdu);

        log_debug("%s/%s: snmp send: %s", c->probe->dev->acct->id,
                  c->probe->dev->cd->id, snmp_api_errstring(err));

        check_snmp_end(c, ST_DOWN,
                       (err == SNMPERR_UNKNOWN_USER_NAME
                        || err == SNMPERR_AUTHENTICATION_FAILURE
                        || err == SNMPERR_UNSUPPORTED_SEC_LEVEL
                        || err == SNMPERR_KT_NOT_AVAILABLE)
                       ? "snmp_auth" : "snmp_error");
        return;
    }

    check_snmp_rearm(c);
}


/* net-snmp keeps the retransmit timers; the loop asks it when to look */

static void
check_snmp_rearm(snmp_ctx_t *c)
{
    int             n, block;
    fd_set          fds;
    struct timeval  tv;

    if (c->sess == NULL) {
        return;
    }

    n = 0;
    block = 1;
    FD_ZERO(&fds);
    timerclear(&tv);

    snmp_sess_select_info(c->sess, &n, &fds, &tv, &block);

    if (!block) {
        evtimer_add(c->timer_ev, &tv);
    } else {
        evtimer_del(c->timer_ev);
    }
}


static void
check_snmp_on_read(evutil_socket_t fd, short what, void *arg)
{
    fd_set       fds;
    snmp_ctx_t  *c;

    c = arg;

    FD_ZERO(&fds);
    FD_SET(fd, &fds);

    snmp_sess_read(c->sess, &fds);
    check_snmp_rearm(c);
}


static void
check_snmp_on_timer(evutil_socket_t fd, short what, void *arg)
{
    snmp_ctx_t  *c;

    c = arg;

    snmp_sess_timeout(c->sess);
    check_snmp_rearm(c);
}


static int
check_snmp_report_auth(netsnmp_pdu *pdu, int *time_window)
{
    netsnmp_variable_list  *vb;

    *time_window = 0;

    for (vb = pdu->variables; vb; vb = vb->next_variable) {
        if (vb->name_length > OID_LENGTH(snmp_usmstats)
            && snmp_oid_compare(vb->name, OID_LENGTH(snmp_usmstats),
                                snmp_usmstats, OID_LENGTH(snmp_usmstats))
               == 0)
        {
            /* usmStatsNotInTimeWindows is .2: the clock was synced */
            if (vb->name[OID_LENGTH(snmp_usmstats)] == 2) {
                *time_window = 1;
                return 0;
            }

            return 1;
        }
    }

    return 0;
}


/* numeric, dotted, no leading dot: there are no MIB files to name it */

static void
check_snmp_oid(char *buf, size_t size, const oid *o, size_t len)
{
    size_t  i, n;

    n = 0;
    buf[0] = '\0';

    for (i = 0; i < len && n < size; i++) {
        n += snprintf(buf + n, size - n, "%s%lu", i ? "." : "",
                      (unsigned long) o[i]);
    }
}


static size_t
check_snmp_value(netsnmp_variable_list *vb, char *buf, size_t size)
{
    size_t  n, i;
    char    tmp[256];

    switch (vb->type) {

    case ASN_INTEGER:
    case ASN_COUNTER:
    case ASN_GAUGE:
    case ASN_TIMETICKS:
    case ASN_UINTEGER:
        return snprintf(buf, size, "%ld", *vb->val.integer);

    case ASN_COUNTER64:
        return snprintf(buf, size, "%llu",
                        ((unsigned long long) vb->val.counter64->high << 32)
                        | vb->val.counter64->low);

    case ASN_OCTET_STR:
        n = vb->val_len < 64 ? vb->val_len : 64;
        for (i = 0; i < n; i++) {
            tmp[i] = (vb->val.string[i] >= 0x20 && vb->val.string[i] < 0x7f)
                     ? vb->val.string[i] : '?';
        }
        tmp[n] = '\0';
        return json_put_string(buf, size, tmp);

    case ASN_OBJECT_ID:
        tmp[0] = '\0';
        n = 0;
        for (i = 0; i < vb->val_len / sizeof(oid) && n < sizeof(tmp) - 12;
             i++)
        {
            n += snprintf(tmp + n, sizeof(tmp) - n, "%s%lu", i ? "." : "",
                          (unsigned long) vb->val.objid[i]);
        }
        return json_put_string(buf, size, tmp);

    case ASN_IPADDRESS:
        if (vb->val_len == 4) {
            snprintf(tmp, sizeof(tmp), "%u.%u.%u.%u", vb->val.string[0],
                     vb->val.string[1], vb->val.string[2], vb->val.string[3]);
            return json_put_string(buf, size, tmp);
        }
        break;
    }

    return snprintf(buf, size, "null");
}


/* appends to one of the JSON objects being built; n may pass size */

static void
check_snmp_put(char *buf, size_t size, size_t *n, int *count,
    const char *name, netsnmp_variable_list *vb, long ival)
{
    size_t  m;

    m = *n;

    m += snprintf(buf + m, m < size ? size - m : 0, "%s", *count ? "," : "");
    m += json_put_string(buf + m, m < size ? size - m : 0, name);
    m += snprintf(buf + m, m < size ? size - m : 0, ":");

    if (vb != NULL) {
        m += check_snmp_value(vb, buf + m, m < size ? size - m : 0);
    } else {
        m += snprintf(buf + m, m < size ? size - m : 0, "%ld", ival);
    }

    *n = m;
    (*count)++;
}


static void
check_snmp_evaluate(snmp_ctx_t *c, netsnmp_pdu *pdu)
{
    int                     pos, nx, nif, missing, ifdown;
    char                    name[160], xo[RESULT_EXTRA], xi[RESULT_EXTRA];
    size_t                  no, ni, n, size;
    uint32_t                up;
    result_t               *r;
    conf_check_t           *cc;
    netsnmp_variable_list  *vb;

    r = &c->result;
    cc = c->probe->cc;

    vb = pdu->variables;

    if (vb == NULL || vb->type != ASN_TIMETICKS) {
        check_snmp_end(c, ST_DOWN, "snmp_error");
        return;
    }

    up = (uint32_t) *vb->val.integer;
    r->ut = up / 100;

    /* uptime going back is a reboot, unless the 32-bit counter wrapped */
    if (c->has_uptime && up < c->uptime
        && !(c->uptime >= SNMP_WRAP && up < ~SNMP_WRAP))
    {
        r->rb = 1;
    }

    c->uptime = up;
    c->has_uptime = 1;

    /*
     * "o" and "if" are built apart and joined at the end; a varbind is an
     * interface by its position in the request, never by its OID (an
     * extra OID may well be an ifOperStatus one).
     */
    size = sizeof(xo);
    no = 0;
    ni = 0;
    nx = 0;
    nif = 0;
    missing = 0;
    ifdown = 0;
    pos = 0;

    for (vb = vb->next_variable; vb; vb = vb->next_variable, pos++) {
        if (vb->type == SNMP_NOSUCHOBJECT || vb->type == SNMP_NOSUCHINSTANCE
            || vb->type == SNMP_ENDOFMIBVIEW)
        {
            missing = 1;
            continue;
        }

        if (pos < c->nreq_oids) {
            check_snmp_oid(name, sizeof(name), vb->name, vb->name_length);
            check_snmp_put(xo, size, &no, &nx, name, vb, 0);
            continue;
        }

        if (pos - c->nreq_oids >= c->nreq_if) {
            /* more varbinds than asked for: not ours to report */
            continue;
        }

        if (vb->type != ASN_INTEGER) {
            missing = 1;
            continue;
        }

        check_snmp_put(xi, size, &ni, &nif,
                       cc->interfaces[c->req_if[pos - c->nreq_oids]], NULL,
                       *vb->val.integer);

        if (*vb->val.integer != 1) {
            ifdown = 1;
        }
    }

    if (pos < c->nreq_oids + c->nreq_if) {
        missing = 1;
    }

    n = 0;
    size = sizeof(r->extra);
    r->extra[0] = '\0';

    if (nx && no < sizeof(xo)) {
        n += snprintf(r->extra + n, n < size ? size - n : 0, "\"o\":{%s}",
                      xo);
    }

    if (nif && ni < sizeof(xi)) {
        n += snprintf(r->extra + n, n < size ? size - n : 0,
                      "%s\"if\":{%s}", n ? "," : "", xi);
    }

    if (n >= size) {
        /* too much to report: keep the state, drop the values */
        r->extra[0] = '\0';
    }

    for (pos = 0; pos < cc->ninterfaces && pos < SNMP_MAXIF; pos++) {
        if (c->ifindex[pos] <= 0) {
            missing = 1;
        }
    }

    if (ifdown) {
        check_snmp_end(c, ST_DEGRADED, "if_down");
    } else if (missing) {
        check_snmp_end(c, ST_DEGRADED, "snmp_nosuch");
    } else {
        check_snmp_end(c, ST_UP, NULL);
    }
}


static int
check_snmp_walk(snmp_ctx_t *c, netsnmp_pdu *pdu)
{
    int                     i, done;
    char                    name[256];
    size_t                  len;
    conf_check_t           *cc;
    netsnmp_variable_list  *vb;

    cc = c->probe->cc;
    done = 0;

    for (vb = pdu->variables; vb; vb = vb->next_variable) {
        if (vb->type == SNMP_ENDOFMIBVIEW
            || vb->name_length != OID_LENGTH(snmp_ifdescr) + 1
            || snmp_oid_compare(vb->name, OID_LENGTH(snmp_ifdescr),
                                snmp_ifdescr, OID_LENGTH(snmp_ifdescr)) != 0)
        {
            done = 1;
            break;
        }

        if (vb->type == ASN_OCTET_STR) {
            len = vb->val_len < sizeof(name) - 1 ? vb->val_len
                                                  : sizeof(name) - 1;
            memcpy(name, vb->val.string, len);
            name[len] = '\0';

            for (i = 0; i < cc->ninterfaces && i < SNMP_MAXIF; i++) {
                if (strcmp(cc->interfaces[i], name) == 0) {
                    c->ifindex[i] = (int) vb->name[vb->name_length - 1];
                }
            }
        }

        memcpy(c->walk, vb->name, vb->name_length * sizeof(oid));
        c->walk_len = vb->name_length;
    }

    if (pdu->variables == NULL || ++c->rounds >= SNMP_WALK_MAX) {
        done = 1;
    }

    return done;
}


static int
check_snmp_cb(int op, netsnmp_session *s, int reqid, netsnmp_pdu *pdu,
    void *magic)
{
    int          tw;
    char         name[160];
    snmp_ctx_t  *c;

    c = magic;

    if (c->step == SNMP_IDLE) {
        return 1;
    }

    if (op == NETSNMP_CALLBACK_OP_TIMED_OUT) {
        /* an agent that is down and a v2c community it does not know
         * look the same: it does not answer */
        check_snmp_end(c, ST_DOWN, "snmp_timeout");
        return 1;
    }

    if (op == NETSNMP_CALLBACK_OP_SEC_ERROR) {
        log_debug("%s/%s: snmp security error: %s", c->probe->dev->acct->id,
                  c->probe->dev->cd->id, snmp_api_errstring(s->s_snmp_errno));

        if (!c->retried) {
            /* net-snmp learns the agent's engine ID, boots and time from
             * its reports; one more try settles a stale clock */
            c->retried = 1;
            check_snmp_send(c);
            return 1;
        }

        check_snmp_end(c, ST_DOWN, "snmp_auth");
        return 1;
    }

    if (op != NETSNMP_CALLBACK_OP_RECEIVED_MESSAGE) {
        check_snmp_end(c, ST_DOWN, "snmp_error");
        return 1;
    }

    if (pdu->command == SNMP_MSG_REPORT) {
        if (log_level >= LOG_DEBUG && pdu->variables) {
            check_snmp_oid(name, sizeof(name), pdu->variables->name,
                           pdu->variables->name_length);
            log_debug("%s/%s: snmp report %s", c->probe->dev->acct->id,
                      c->probe->dev->cd->id, name);
        }

        if (check_snmp_report_auth(pdu, &tw)) {
            check_snmp_end(c, ST_DOWN, "snmp_auth");
            return 1;
        }

        if (tw && !c->retried) {
            /* the report carried the agent's clock: ask again */
            c->retried = 1;
            check_snmp_send(c);
            return 1;
        }

        check_snmp_end(c, ST_DOWN, "snmp_error");
        return 1;
    }

    if (pdu->errstat != SNMP_ERR_NOERROR) {
        log_debug("%s/%s: snmp error-status %ld", c->probe->dev->acct->id,
                  c->probe->dev->cd->id, pdu->errstat);
        check_snmp_end(c, ST_DOWN, pdu->errstat == SNMP_ERR_AUTHORIZATIONERROR
                                   ? "snmp_auth" : "snmp_error");
        return 1;
    }

    if (c->step == SNMP_WALK) {
        if (check_snmp_walk(c, pdu)) {
            c->mapped = 1;
            c->step = SNMP_GET;
        }

        check_snmp_send(c);
        return 1;
    }

    check_snmp_evaluate(c, pdu);

    return 1;
}


/*
 * Ends a run.  probe_done() may free this context (a reload removed the
 * check), and that must not happen inside net-snmp's call stack: the
 * result is handed over through a zero timer.
 */

static void
check_snmp_end(snmp_ctx_t *c, int st, const char *er)
{
    struct timeval  tv;

    if (c->step == SNMP_IDLE) {
        return;
    }

    c->step = SNMP_IDLE;
    c->result.st = st;
    c->result.er = er;

    if (st == ST_UP || st == ST_DEGRADED) {
        c->result.rt = (devmon_mono_us() - c->t0) / 1000.0;
    }

    /* a session that failed may hold half-done v3 state: start afresh */
    if (st == ST_DOWN || st == ST_UNKNOWN) {
        c->mapped = 0;
    }

    timerclear(&tv);
    evtimer_add(c->done_ev, &tv);
}


static void
check_snmp_on_done(evutil_socket_t fd, short what, void *arg)
{
    snmp_ctx_t  *c;

    c = arg;

    if (c->result.er != NULL && c->sess != NULL
        && (strcmp(c->result.er, "snmp_timeout") == 0
            || (strcmp(c->result.er, "snmp_auth") == 0
                && c->probe->cc->snmp_version == SNMP_V3)))
    {
        /* the next run opens a new session: a host name is resolved
         * again (the device may have moved) and a v3 engine is
         * rediscovered (the agent may have restarted) */
        check_snmp_close(c);
    }

    probe_done(c->probe, &c->result);
}


static void
check_snmp_close(snmp_ctx_t *c)
{
    if (c->read_ev) {
        event_free(c->read_ev);
        c->read_ev = NULL;
    }

    evtimer_del(c->timer_ev);

    if (c->sess) {
        snmp_sess_close(c->sess);
        c->sess = NULL;
    }

    c->fd = -1;
}


void
check_snmp_free(probe_t *p)
{
    snmp_ctx_t  *c;

    c = p->kctx;
    if (c == NULL) {
        return;
    }

    check_snmp_close(c);
    event_free(c->timer_ev);
    event_free(c->done_ev);
    free(c);
    p->kctx = NULL;
}


void
check_snmp_fini(void)
{
    snmp_shutdown("probed");
}
