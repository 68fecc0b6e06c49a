/* conf: the daemon's JSON configuration, parsed from a table of keys */

#ifndef _CONF_H_INCLUDED_
#define _CONF_H_INCLUDED_


#include <stdio.h>

#include "probed.h"
#include "pool.h"


#define CONF_ERRLEN  512


typedef enum {
    SNMP_V2C = 0,
    SNMP_V3
} conf_snmp_version_e;


typedef struct {
    int                 kind;
    double              interval;           /* seconds */
    double              timeout;            /* seconds */
    int                 down_after;
    int                 up_after;
    double              degraded_rtt;       /* ms, 0 = off */
    double              degraded_loss;      /* percent, 0 = off */
    double              down_loss;          /* percent */
    double              flap_threshold;
    double              flap_halflife;      /* seconds */

    int                 count;              /* icmp */
    int                 port;               /* tcp, snmp */

    char               *url;                /* http */
    int                *expect;
    int                 nexpect;
    char               *keyword;
    int                 verify_tls;
    char               *ca_file;
    int                 cert_warn_days;

    int                 snmp_version;       /* snmp */
    char               *community;
    char               *user;
    int                 auth_proto;
    char               *auth_pass;
    int                 priv_proto;
    char               *priv_pass;
    int                 retries;
    char              **oids;
    int                 noids;
    char              **interfaces;
    int                 ninterfaces;
} conf_check_t;


typedef struct {
    char               *id;
    char               *name;
    char               *address;
    char              **regions;
    int                 nregions;
    conf_check_t       *checks;
    int                 nchecks;
    char               *signature;          /* canonical text: reload diff */
    int                 line;
} conf_device_t;


typedef struct {
    char               *id;
    conf_device_t      *devices;
    int                 ndevices;
} conf_account_t;


typedef struct {
    char               *host;
    int                 port;
    char               *socket;
    char               *password;
    int                 db;
    int                 maxlen;
    int                 backlog;
    double              connect_timeout;
} conf_redis_t;


typedef struct {
    pool_t              pool;
    char               *file;
    char               *region;
    int                 icmp_threads;
    int                 icmp_batch;
    double              icmp_batch_wait;    /* seconds */
    char              **region_check;       /* host:port, numeric */
    int                 nregion_check;
    int                 log_level;
    conf_redis_t        redis;
    conf_check_t        defaults;
    conf_account_t     *accounts;
    int                 naccounts;
} conf_t;


extern const char  *conf_auth_protos[];
extern const char  *conf_priv_protos[];


conf_t *conf_load(const char *file, const char *region, char *err);
conf_t *conf_parse(const char *text, const char *file, const char *region,
    char *err);
void conf_free(conf_t *conf);
int conf_device_in_region(const conf_device_t *dev, const char *region);
void conf_keys_markdown(FILE *out);


#endif /* _CONF_H_INCLUDED_ */
