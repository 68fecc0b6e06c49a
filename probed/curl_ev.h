/* curl_ev: libcurl's multi socket API driven by a libevent loop */

#ifndef _CURL_EV_H_INCLUDED_
#define _CURL_EV_H_INCLUDED_


#include <curl/curl.h>
#include <event2/event.h>


typedef struct curl_ev_s  curl_ev_t;

/* a transfer ended; the callee removes the handle (curl_ev_remove) */
typedef void (*curl_ev_done_pt)(CURL *easy, CURLcode code, void *data);


curl_ev_t *curl_ev_new(struct event_base *base, curl_ev_done_pt done,
    void *data);
int curl_ev_add(curl_ev_t *ce, CURL *easy);
void curl_ev_remove(curl_ev_t *ce, CURL *easy);
void curl_ev_tls(CURL *easy, int verify, const char *ca_file);
void curl_ev_free(curl_ev_t *ce);


#endif /* _CURL_EV_H_INCLUDED_ */
