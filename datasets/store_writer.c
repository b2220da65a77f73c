/*
 * datasets/store_writer.c — the writer: many threads submit episodes (with everything
 * that belongs to them) and events; one thread on its own connection drains the queue
 * and commits a transaction every batch_items items or batch_ms milliseconds, whichever
 * comes first. Each item runs inside a savepoint, so one bad item (say, a duplicate
 * (run, task, sample) on resume) is reported alone while the rest of the batch commits.
 * Submitters get a deep copy of their input taken under their own thread (so the
 * allocation-failure tests reach it) and wait while the queue is full; flush waits for
 * what was submitted before it; close flushes, stops the thread and frees.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "datasets/datasets_int.h"

enum { ITEM_BUNDLE, ITEM_EVENT };

typedef struct item {
    struct item *next;
    int kind;
    uint64_t tag;
    uint64_t queued_ns;
    char *mem; /* one block holding every copied string and array */
    ef_episode_bundle bundle;
    ef_episode_row episode;
    ef_token_stream tokens;
    ef_event_row event;
} item;

struct ef_store_writer {
    ef_store *s;
    ef_ctx *wctx; /* the writer thread's context */
    ef_store_writer_options opts;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;  /* queue grew, flush asked, closing */
    pthread_cond_t cv_done;  /* a batch finished */
    pthread_cond_t cv_space; /* the queue shrank */
    item *head, *tail;
    size_t n_queued;
    uint64_t n_done;
    int n_flushers;
    int closing;
    int broken;   /* a begin/commit failed: submits are refused */
    int err_code; /* first error since the last flush */
    char err_msg[1024];
    ef_store_writer_stats stats;
    ef_store_commit_item *results; /* batch_items entries, used by the thread */
};

/* ---- deep copies -------------------------------------------------------------------- */

/* Two passes over the same code: the first measures (base NULL), the second copies. */
typedef struct {
    char *base;
    size_t off;
} copier;

static const void *cp_mem(copier *c, const void *p, size_t len)
{
    if (!p)
        return NULL;
    c->off = (c->off + 7) & ~(size_t)7;
    void *d = c->base ? c->base + c->off : NULL;
    if (d && len)
        memcpy(d, p, len);
    c->off += len ? len : 1;
    return d;
}

static const char *cp_str(copier *c, const char *s)
{
    return s ? cp_mem(c, s, strlen(s) + 1) : NULL;
}

static void copy_bundle(copier *c, const ef_episode_bundle *src, item *it)
{
    const ef_episode_row *e = src->episode;
    ef_episode_row *d = &it->episode;
    *d = *e;
    d->model = cp_str(c, e->model);
    d->status = cp_str(c, e->status);
    d->end_reason = cp_str(c, e->end_reason);
    d->answer = cp_str(c, e->answer);
    d->verify_info = cp_str(c, e->verify_info);
    d->error = cp_str(c, e->error);
    ef_episode_bundle *b = &it->bundle;
    *b = *src;
    b->episode = d;
    ef_message_row *m =
        (ef_message_row *)cp_mem(c, src->messages, src->n_messages * sizeof *src->messages);
    for (size_t i = 0; i < src->n_messages; i++) {
        const ef_message_row *sm = &src->messages[i];
        const char *role = cp_str(c, sm->role), *content = cp_str(c, sm->content);
        const char *reasoning = cp_str(c, sm->reasoning_content);
        const char *calls = cp_str(c, sm->tool_calls_json);
        const char *call_id = cp_str(c, sm->tool_call_id), *name = cp_str(c, sm->name);
        if (m) {
            m[i].role = role;
            m[i].content = content;
            m[i].reasoning_content = reasoning;
            m[i].tool_calls_json = calls;
            m[i].tool_call_id = call_id;
            m[i].name = name;
        }
    }
    b->messages = m;
    ef_tool_call_row *tc =
        (ef_tool_call_row *)cp_mem(c, src->tool_calls, src->n_tool_calls * sizeof *src->tool_calls);
    for (size_t i = 0; i < src->n_tool_calls; i++) {
        const ef_tool_call_row *sc = &src->tool_calls[i];
        const char *a = cp_str(c, sc->call_id), *t = cp_str(c, sc->tool);
        const char *g = cp_str(c, sc->arguments_json), *r = cp_str(c, sc->result);
        if (tc) {
            tc[i].call_id = a;
            tc[i].tool = t;
            tc[i].arguments_json = g;
            tc[i].result = r;
        }
    }
    b->tool_calls = tc;
    ef_event_row *ev = (ef_event_row *)cp_mem(c, src->events, src->n_events * sizeof *src->events);
    for (size_t i = 0; i < src->n_events; i++) {
        const char *k = cp_str(c, src->events[i].kind);
        const char *p = cp_str(c, src->events[i].payload_json);
        if (ev) {
            ev[i].kind = k;
            ev[i].payload_json = p;
        }
    }
    b->events = ev;
    b->tokens = NULL;
    if (src->tokens) {
        const ef_token_stream *st = src->tokens;
        ef_token_stream *dt = &it->tokens;
        size_t n = st->n_tokens;
        *dt = *st;
        dt->token_ids = cp_mem(c, st->token_ids, n * sizeof *st->token_ids);
        dt->loss_mask = cp_mem(c, st->loss_mask, n);
        dt->logprobs = cp_mem(c, st->logprobs, n * sizeof *st->logprobs);
        dt->topp_offsets = cp_mem(c, st->topp_offsets, (n + 1) * sizeof(int32_t));
        size_t n_topp = st->topp_offsets ? (size_t)st->topp_offsets[n] : 0;
        dt->topp_ids = cp_mem(c, st->topp_ids, n_topp * sizeof(int32_t));
        size_t n_routes = st->routes ? n * (size_t)st->route_layers * (size_t)st->route_topk : 0;
        dt->routes = cp_mem(c, st->routes, n_routes * sizeof(uint16_t));
        b->tokens = dt;
    }
}

static void copy_event(copier *c, const ef_event_row *src, item *it)
{
    it->event = *src;
    it->event.kind = cp_str(c, src->kind);
    it->event.payload_json = cp_str(c, src->payload_json);
}

static item *item_new(int kind, const void *src, uint64_t tag)
{
    copier c = {NULL, 0};
    item probe;
    memset(&probe, 0, sizeof probe);
    if (kind == ITEM_BUNDLE)
        copy_bundle(&c, src, &probe);
    else
        copy_event(&c, src, &probe);
    item *it = ef_calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->mem = ef_malloc(c.off + 8);
    if (!it->mem) {
        ef_free(it);
        return NULL;
    }
    c.base = it->mem;
    c.off = 0;
    if (kind == ITEM_BUNDLE)
        copy_bundle(&c, src, it);
    else
        copy_event(&c, src, it);
    it->kind = kind;
    it->tag = tag;
    return it;
}

static void item_free(item *it)
{
    if (!it)
        return;
    ef_free(it->mem);
    ef_free(it);
}

/* ---- the thread ----------------------------------------------------------------------- */

static void record_error(ef_store_writer *w, int code, const char *msg)
{
    if (w->err_code == 0) {
        w->err_code = code;
        snprintf(w->err_msg, sizeof w->err_msg, "%s", msg);
    }
}

/* Writes one item inside a savepoint; returns its result code. */
static int write_item(ef_store_writer *w, item *it, int64_t *episode_id)
{
    ef_store *s = w->s;
    int rc = ef_datasets__tx_begin(s);
    if (rc < 0)
        return rc;
    if (it->kind == ITEM_BUNDLE)
        rc = ef_datasets__bundle_write(s, &it->bundle, episode_id);
    else
        rc = ef_datasets__event_write(s, &it->event, it->event.run_id, 0, NULL);
    rc = ef_datasets__tx_end(s, rc);
    if (rc == EF_EEXISTS && it->kind == ITEM_BUNDLE) {
        const ef_episode_row *e = it->bundle.episode;
        char keep[512];
        snprintf(keep, sizeof keep, "%s", ef_errmsg(w->wctx));
        if (ef_store_episode_find(s, e->run_id, e->task_id, e->sample_idx, episode_id) < 0)
            *episode_id = 0;
        ef_errorf(w->wctx, EF_EEXISTS, "%s", keep);
    }
    return rc;
}

/* Writes a batch in one transaction and reports it. Called without the lock. */
static void write_batch(ef_store_writer *w, item *batch, size_t n)
{
    ef_store_commit_item *res = w->results;
    size_t i = 0;
    int rc = ef_datasets__tx_begin(w->s);
    for (item *it = batch; it; it = it->next, i++) {
        res[i].tag = it->tag;
        res[i].episode_id = 0;
        res[i].rc = rc < 0 ? rc : write_item(w, it, &res[i].episode_id);
        if (res[i].rc < 0 && res[i].rc != EF_EEXISTS) {
            pthread_mutex_lock(&w->mu);
            record_error(w, res[i].rc, ef_errmsg(w->wctx));
            pthread_mutex_unlock(&w->mu);
        }
    }
    int commit_rc = rc < 0 ? rc : ef_datasets__tx_end(w->s, 0);
    if (commit_rc < 0) {
        for (i = 0; i < n; i++)
            if (res[i].rc == 0)
                res[i].rc = commit_rc;
    }
    pthread_mutex_lock(&w->mu);
    if (commit_rc < 0) {
        w->broken = 1;
        record_error(w, commit_rc, ef_errmsg(w->wctx));
    } else {
        w->stats.n_commits++;
    }
    for (i = 0; i < n; i++) {
        if (res[i].rc == 0)
            w->stats.n_stored++;
        else if (res[i].rc == EF_EEXISTS)
            w->stats.n_duplicate++;
        else
            w->stats.n_failed++;
    }
    pthread_mutex_unlock(&w->mu);
    if (w->opts.on_commit)
        w->opts.on_commit(w->opts.on_commit_ud, res, n);
}

static void deadline_of(uint64_t ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
}

static void *writer_main(void *arg)
{
    ef_store_writer *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->head && !w->closing)
            pthread_cond_wait(&w->cv_work, &w->mu);
        if (!w->head)
            break; /* closing with nothing left */
        /* wait for a full batch, its time, a flush or close */
        while (w->head && w->n_queued < w->opts.batch_items && !w->closing && !w->n_flushers) {
            uint64_t due = w->head->queued_ns + (uint64_t)w->opts.batch_ms * 1000000ull;
            if (ef_now_ns() >= due)
                break;
            struct timespec ts;
            deadline_of(due, &ts);
            pthread_cond_timedwait(&w->cv_work, &w->mu, &ts);
        }
        item *batch = w->head, *last = w->head;
        size_t n = 1;
        while (n < w->opts.batch_items && last->next) {
            last = last->next;
            n++;
        }
        w->head = last->next;
        if (!w->head)
            w->tail = NULL;
        last->next = NULL;
        w->n_queued -= n;
        pthread_cond_broadcast(&w->cv_space);
        pthread_mutex_unlock(&w->mu);

        write_batch(w, batch, n);
        while (batch) {
            item *next = batch->next;
            item_free(batch);
            batch = next;
        }

        pthread_mutex_lock(&w->mu);
        w->n_done += n;
        pthread_cond_broadcast(&w->cv_done);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- the API --------------------------------------------------------------------------- */

static void writer_destroy(ef_store_writer *w)
{
    for (item *it = w->head; it;) {
        item *next = it->next;
        item_free(it);
        it = next;
    }
    ef_store_close(w->s);
    ef_ctx_free(w->wctx);
    ef_free(w->results);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv_work);
    pthread_cond_destroy(&w->cv_done);
    pthread_cond_destroy(&w->cv_space);
    ef_free(w);
}

int ef_store_writer_new(ef_ctx *ctx, const char *path, const ef_store_writer_options *opts,
                        ef_store_writer **out)
{
    ef_store_writer_options o = EF_STORE_WRITER_OPTIONS_INIT;
    if (opts) {
        if (opts->version != EF_STORE_WRITER_OPTIONS_VERSION)
            return ef_errorf(ctx, EF_EINVAL, "store writer: options version %u, expected %u",
                             opts->version, EF_STORE_WRITER_OPTIONS_VERSION);
        o = *opts;
    }
    if (o.batch_items == 0)
        o.batch_items = 1;
    if (o.batch_ms < 0)
        o.batch_ms = 0;
    if (o.max_queue < o.batch_items)
        o.max_queue = o.batch_items;
    if (o.store.read_only)
        return ef_errorf(ctx, EF_EINVAL, "store writer: the store cannot be read-only");
    ef_store_writer *w = ef_calloc(1, sizeof *w);
    if (!w)
        return ef_errorf(ctx, EF_ENOMEM, "store writer: out of memory");
    w->opts = o;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv_work, &ca);
    pthread_cond_init(&w->cv_done, NULL);
    pthread_cond_init(&w->cv_space, NULL);
    pthread_condattr_destroy(&ca);
    int rc;
    w->results = ef_calloc(o.batch_items, sizeof *w->results);
    w->wctx = ef_ctx_new();
    if (!w->results || !w->wctx) {
        rc = ef_errorf(ctx, EF_ENOMEM, "store writer: out of memory");
        goto fail;
    }
    if ((rc = ef_store_open_ext(ctx, path, &o.store, &w->s)) < 0)
        goto fail;
    w->s->ctx = w->wctx; /* from now on the store is used by the writer thread only */
    int err = pthread_create(&w->thread, NULL, writer_main, w);
    if (err) {
        rc = ef_errorf(ctx, EF_EIO, "store writer: cannot start its thread: %s", strerror(err));
        goto fail;
    }
    w->thread_started = 1;
    *out = w;
    return 0;
fail:
    writer_destroy(w);
    return rc;
}

static int enqueue(ef_store_writer *w, ef_ctx *ctx, item *it)
{
    pthread_mutex_lock(&w->mu);
    while (w->n_queued >= w->opts.max_queue && !w->broken)
        pthread_cond_wait(&w->cv_space, &w->mu);
    if (w->broken) {
        int rc = ef_errorf(ctx, w->err_code ? w->err_code : EF_ESTORE,
                           "store writer: refusing new items after a store error: %s", w->err_msg);
        pthread_mutex_unlock(&w->mu);
        item_free(it);
        return rc;
    }
    it->queued_ns = ef_now_ns();
    if (w->tail)
        w->tail->next = it;
    else
        w->head = it;
    w->tail = it;
    w->n_queued++;
    w->stats.n_submitted++;
    pthread_cond_signal(&w->cv_work);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int ef_store_writer_submit(ef_store_writer *w, ef_ctx *ctx, const ef_episode_bundle *b,
                           uint64_t tag)
{
    int rc = ef_store_bundle_validate(ctx, b);
    if (rc < 0)
        return rc;
    item *it = item_new(ITEM_BUNDLE, b, tag);
    if (!it)
        return ef_errorf(ctx, EF_ENOMEM, "store writer: out of memory copying an episode");
    return enqueue(w, ctx, it);
}

int ef_store_writer_submit_event(ef_store_writer *w, ef_ctx *ctx, const ef_event_row *ev,
                                 uint64_t tag)
{
    int rc = ef_datasets__event_validate(ctx, ev, "event");
    if (rc < 0)
        return rc;
    if (ev->episode_id != 0)
        return ef_errorf(ctx, EF_EINVAL,
                         "event '%s': field 'episode_id' must be 0 for the "
                         "writer (put episode events in the episode's bundle)",
                         ev->kind);
    item *it = item_new(ITEM_EVENT, ev, tag);
    if (!it)
        return ef_errorf(ctx, EF_ENOMEM, "store writer: out of memory copying an event");
    return enqueue(w, ctx, it);
}

/* Takes the first error since the last call; reports it on ctx. Lock held. */
static int take_error(ef_store_writer *w, ef_ctx *ctx)
{
    int rc = w->err_code;
    if (rc < 0) {
        ef_errorf(ctx, rc, "%s", w->err_msg);
        if (!w->broken) {
            w->err_code = 0;
            w->err_msg[0] = '\0';
        }
    }
    return rc;
}

int ef_store_writer_flush(ef_store_writer *w, ef_ctx *ctx)
{
    pthread_mutex_lock(&w->mu);
    uint64_t target = w->stats.n_submitted;
    w->n_flushers++;
    pthread_cond_signal(&w->cv_work);
    while (w->n_done < target)
        pthread_cond_wait(&w->cv_done, &w->mu);
    w->n_flushers--;
    int rc = take_error(w, ctx);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void ef_store_writer_get_stats(ef_store_writer *w, ef_store_writer_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

int ef_store_writer_close(ef_store_writer *w, ef_ctx *ctx)
{
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    pthread_cond_broadcast(&w->cv_work);
    pthread_mutex_unlock(&w->mu);
    if (w->thread_started)
        pthread_join(w->thread, NULL);
    pthread_mutex_lock(&w->mu);
    int rc = take_error(w, ctx);
    pthread_mutex_unlock(&w->mu);
    writer_destroy(w);
    return rc;
}
