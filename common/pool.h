/*
 * common/pool.h — a fixed thread pool with a job queue and a parallel for.
 *
 *   ef_pool *pool;
 *   ef_pool_new(&pool, 0);                 // 0: one thread per online core
 *   ef_pool_for(pool, n_items, work, ud);  // calls work(ud, i, thread_id) for i < n
 *   ef_pool_submit(pool, job, arg);        // fire-and-forget job
 *   ef_pool_wait(pool);                    // until the queue is empty and all idle
 *   ef_pool_free(pool);
 */
#ifndef EF_POOL_H
#define EF_POOL_H

#include <stddef.h>

typedef struct ef_pool ef_pool;
typedef void (*ef_pool_job)(void *arg);
typedef void (*ef_pool_for_fn)(void *ud, size_t i, int thread_id);

int ef_pool_new(ef_pool **out, int n_threads);
int ef_pool_size(const ef_pool *pool);
int ef_pool_submit(ef_pool *pool, ef_pool_job job, void *arg);
void ef_pool_wait(ef_pool *pool);
/* Runs fn for every i in [0, n) across the pool (dynamic, in chunks); returns when done. */
int ef_pool_for(ef_pool *pool, size_t n, ef_pool_for_fn fn, void *ud);
/* Stops the threads after the queued jobs finish. Accepts NULL. */
void ef_pool_free(ef_pool *pool);
/* Online CPU count (at least 1). */
int ef_ncpu(void);

#endif
