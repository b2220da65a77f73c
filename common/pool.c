/*
 * common/pool.c — a fixed-size thread pool: a mutex-protected job queue, workers that
 * sleep on a condition variable, ef_pool_wait for quiescence, and ef_pool_for which
 * hands out index chunks through an atomic counter.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>
#include "common/ef.h"
#include "common/pool.h"

typedef struct job {
    ef_pool_job fn;
    void *arg;
    struct job *next;
} job;

typedef struct {
    ef_pool *pool;
    int id;
} worker_arg;

struct ef_pool {
    pthread_mutex_t mu;
    pthread_cond_t has_work, idle;
    job *head, *tail;
    int n_threads, n_busy, stopping;
    pthread_t *threads;
    worker_arg *args;
};

static _Thread_local int current_thread_id;

int ef_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static void *worker_main(void *p)
{
    worker_arg *wa = p;
    ef_pool *pool = wa->pool;
    current_thread_id = wa->id;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->head && !pool->stopping)
            pthread_cond_wait(&pool->has_work, &pool->mu);
        if (!pool->head && pool->stopping)
            break;
        job *j = pool->head;
        pool->head = j->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->n_busy++;
        pthread_mutex_unlock(&pool->mu);
        j->fn(j->arg);
        ef_free(j);
        pthread_mutex_lock(&pool->mu);
        pool->n_busy--;
        if (!pool->head && pool->n_busy == 0)
            pthread_cond_broadcast(&pool->idle);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

int ef_pool_new(ef_pool **out, int n_threads)
{
    if (n_threads <= 0)
        n_threads = ef_ncpu();
    ef_pool *pool = ef_calloc(1, sizeof *pool);
    if (!pool)
        return EF_ENOMEM;
    pool->threads = ef_calloc((size_t)n_threads, sizeof *pool->threads);
    pool->args = ef_calloc((size_t)n_threads, sizeof *pool->args);
    if (!pool->threads || !pool->args) {
        ef_free(pool->threads);
        ef_free(pool->args);
        ef_free(pool);
        return EF_ENOMEM;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->has_work, NULL);
    pthread_cond_init(&pool->idle, NULL);
    for (int i = 0; i < n_threads; i++) {
        pool->args[i].pool = pool;
        pool->args[i].id = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, &pool->args[i]) != 0) {
            pool->n_threads = i;
            ef_pool_free(pool);
            return EF_EIO;
        }
        pool->n_threads = i + 1;
    }
    *out = pool;
    return 0;
}

int ef_pool_size(const ef_pool *pool)
{
    return pool->n_threads;
}

int ef_pool_submit(ef_pool *pool, ef_pool_job fn, void *arg)
{
    job *j = ef_malloc(sizeof *j);
    if (!j)
        return EF_ENOMEM;
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    pthread_mutex_lock(&pool->mu);
    if (pool->tail)
        pool->tail->next = j;
    else
        pool->head = j;
    pool->tail = j;
    pthread_cond_signal(&pool->has_work);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

void ef_pool_wait(ef_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    while (pool->head || pool->n_busy)
        pthread_cond_wait(&pool->idle, &pool->mu);
    pthread_mutex_unlock(&pool->mu);
}

typedef struct {
    ef_pool_for_fn fn;
    void *ud;
    size_t n, chunk;
    atomic_size_t next;
} for_state;

static void for_job(void *p)
{
    for_state *st = p;
    int tid = current_thread_id;
    for (;;) {
        size_t start = atomic_fetch_add(&st->next, st->chunk);
        if (start >= st->n)
            break;
        size_t end = start + st->chunk < st->n ? start + st->chunk : st->n;
        for (size_t i = start; i < end; i++)
            st->fn(st->ud, i, tid);
    }
}

int ef_pool_for(ef_pool *pool, size_t n, ef_pool_for_fn fn, void *ud)
{
    if (n == 0)
        return 0;
    for_state st;
    st.fn = fn;
    st.ud = ud;
    st.n = n;
    st.chunk = n / ((size_t)pool->n_threads * 8);
    if (st.chunk == 0)
        st.chunk = 1;
    atomic_init(&st.next, 0);
    int submitted = 0, rc = 0;
    for (int i = 0; i < pool->n_threads; i++) {
        rc = ef_pool_submit(pool, for_job, &st);
        if (rc)
            break;
        submitted++;
    }
    if (!submitted) {
        /* no job could be queued: do the work on the calling thread */
        for (size_t i = 0; i < n; i++)
            fn(ud, i, 0);
        return 0;
    }
    ef_pool_wait(pool);
    return 0;
}

void ef_pool_free(ef_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->has_work);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    job *j = pool->head;
    while (j) {
        job *next = j->next;
        ef_free(j);
        j = next;
    }
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->has_work);
    pthread_cond_destroy(&pool->idle);
    ef_free(pool->threads);
    ef_free(pool->args);
    ef_free(pool);
}
