/*
 * engine/server_int.h — what the HTTP plumbing (server.c) and the OpenAI endpoints
 * (server_api.c) share; not public.
 */
#ifndef EF_ENGINE_SERVER_INT_H
#define EF_ENGINE_SERVER_INT_H

#include <stdatomic.h>
#include "engine/serve.h"

typedef struct {
    char method[16];
    char path[512];
    int keep_alive;
    char *body; /* NUL-terminated */
    size_t body_len;
} ef_http_req;

typedef struct ef_http_conn ef_http_conn;

struct ef_engine_server {
    ef_engine_rt *rt;
    ef_server_options o;
    char *name; /* served model id */
    int fd, port;
    atomic_int n_conns;
    atomic_long n_ids; /* request ids */
    const volatile sig_atomic_t *stop;
    atomic_int stopping;
};

/* Writes all bytes; < 0 when the peer is gone. */
int ef_engine__http_write(ef_http_conn *c, const char *data, size_t len);
/* A complete response with a JSON or text body. */
int ef_engine__http_respond(ef_http_conn *c, int status, const char *content_type, const char *body,
                            size_t len);
/* An OpenAI-style error body {"error": {"message", "type", "code"}}. */
int ef_engine__http_error(ef_http_conn *c, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Server-sent events: the header, one "data: ..." event per call (chunked), the end. */
int ef_engine__sse_begin(ef_http_conn *c);
int ef_engine__sse_event(ef_http_conn *c, const char *data);
int ef_engine__sse_end(ef_http_conn *c);
/* 1 once the server is stopping or the connection's peer closed. */
int ef_engine__http_gone(ef_http_conn *c);

/* Routes one request (server_api.c). Returns < 0 when the connection must close. */
int ef_engine__api_handle(ef_engine_server *s, ef_http_conn *c, const ef_http_req *req);

#endif
