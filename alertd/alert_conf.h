/* alert_conf: alertd's JSON configuration, parsed from a table of keys */

#ifndef _ALERT_CONF_H_INCLUDED_
#define _ALERT_CONF_H_INCLUDED_


#include <stdio.h>

#include "pool.h"


#define ALERT_CONF_ERRLEN   512


typedef enum {
    ALERT_TLS_OFF = 0,
    ALERT_TLS_TRY,
    ALERT_TLS_REQUIRE
} alert_tls_e;


typedef struct {
    char               *host;
    int                 port;
    char               *socket;
    char               *password;
    int                 db;
    double              connect_timeout;
} alert_conf_redis_t;


typedef struct {
    char               *url;            /* smtp://host:port or smtps:// */
    char               *from;
    char               *user;
    char               *password;
    int                 starttls;       /* alert_tls_e */
    int                 verify_tls;
    char               *ca_file;
    double              timeout;
} alert_conf_smtp_t;


typedef struct {
    double              timeout;
    int                 verify_tls;
    char               *ca_file;
} alert_conf_webhook_t;


typedef struct {
    double              min;            /* seconds before the 1st retry */
    double              max;            /* longest wait between retries */
    double              give_up;        /* seconds after which it is dropped */
} alert_conf_retry_t;


typedef struct {
    pool_t              pool;
    char               *file;
    int                 log_level;
    char               *group;
    char               *consumer;
    char              **accounts;
    int                 naccounts;
    double              cooldown;       /* seconds */
    double              recovery_hold;
    double              storm_window;
    int                 storm_threshold;
    double              tick;
    int                 batch;
    char               *subject_prefix;
    alert_conf_redis_t  redis;
    alert_conf_smtp_t   smtp;
    alert_conf_webhook_t webhook;
    alert_conf_retry_t  retry;
} alert_conf_t;


alert_conf_t *alert_conf_load(const char *file, char *err);
void alert_conf_free(alert_conf_t *conf);
void alert_conf_keys_markdown(FILE *out);


#endif /* _ALERT_CONF_H_INCLUDED_ */
