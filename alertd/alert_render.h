/* alert_render: user preferences and the text of emails and webhook bodies */

#ifndef _ALERT_RENDER_H_INCLUDED_
#define _ALERT_RENDER_H_INCLUDED_


#include "alert.h"


#define ALERT_CH_EMAIL      0x01
#define ALERT_CH_WEBHOOK    0x02


/* one user of an account: the hash devmon:{A}:user:{U} */
typedef struct {
    char            id[ALERT_IDLEN];
    char            email[256];
    char            webhook[1024];
    int             enabled;
    int             want[AK_N];     /* per notification kind */
    unsigned        channels;       /* ALERT_CH_* */
    int             slack;          /* webhook body for Slack */
} alert_user_t;


/* what the catalogue devmon:{A}:devices says about a device */
typedef struct {
    char            name[256];
    char            address[256];
} alert_devinfo_t;


/* one message to one destination; the outbox keeps these */
typedef struct alert_msg_s  alert_msg_t;

struct alert_msg_s {
    alert_msg_t    *next;
    char            id[64];
    char            account[ALERT_IDLEN];
    int             channel;        /* ALERT_CH_EMAIL or _WEBHOOK */
    char           *to;             /* address or URL */
    char           *body;           /* RFC 5322 message or JSON */
    int             attempts;
    int64_t         created;
    int64_t         next_try;
    unsigned        busy:1;         /* a transfer runs */
};


extern const char  *alert_user_keys[];


int alert_email_ok(const char *v);
int alert_webhook_ok(const char *v);
void alert_user_init(alert_user_t *u, const char *id);
int alert_user_set(alert_user_t *u, const char *key, const char *value);
int alert_user_wants(const alert_user_t *u, const alert_note_t *n);

alert_msg_t *alert_render(const char *account, const alert_user_t *u,
    int channel, const alert_note_t *notes, const alert_devinfo_t *info,
    int n, int digest, const char *from, const char *prefix,
    const char *id);

alert_msg_t *alert_msg_new(const char *id, const char *account, int channel,
    const char *to, const char *body);
void alert_msg_free(alert_msg_t *m);
void alert_msg_dest(const alert_msg_t *m, char *buf, size_t size);
char *alert_msg_encode(const alert_msg_t *m);
alert_msg_t *alert_msg_decode(const char *account, const char *id,
    const char *json);


#endif /* _ALERT_RENDER_H_INCLUDED_ */
