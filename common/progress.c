/*
 * common/progress.c — the progress bar on stderr: redrawn in place on a terminal (at
 * most 10 Hz), plain periodic lines otherwise, a final line at the end. Counts are
 * atomic so worker threads can add; drawing takes a lock and is skipped when busy.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "common/ef.h"
#include "common/progress.h"

struct ef_progress {
    char label[96];
    char unit[24];
    char note[160];
    uint64_t total;
    atomic_uint_fast64_t done;
    double t_start;
    atomic_uint_fast64_t last_draw_ns;
    int tty, enabled;
    double interval_s;
    pthread_mutex_t mu;
};

ef_progress *ef_progress_new(const char *label, uint64_t total, const char *unit)
{
    ef_progress *p = ef_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "items");
    p->total = total;
    atomic_init(&p->done, 0);
    atomic_init(&p->last_draw_ns, 0);
    p->t_start = ef_now_s();
    p->tty = isatty(STDERR_FILENO);
    const char *e = getenv("EF_PROGRESS");
    p->enabled = !(e && !strcmp(e, "0"));
    p->interval_s = p->tty ? 0.1 : 5.0;
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

static void fmt_duration(char *buf, size_t cap, double s)
{
    if (s < 0 || s > 1e7)
        snprintf(buf, cap, "--:--");
    else if (s >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else
        snprintf(buf, cap, "%02d:%02d", (int)s / 60, (int)s % 60);
}

void ef_progress_format(ef_progress *p, char *buf, size_t cap)
{
    if (!p) {
        if (cap)
            buf[0] = '\0';
        return;
    }
    uint64_t done = atomic_load(&p->done);
    double el = ef_now_s() - p->t_start;
    double rate = el > 0 ? (double)done / el : 0;
    char els[16], eta[16];
    fmt_duration(els, sizeof els, el);
    int n = 0;
    if (p->total) {
        double frac = (double)done / (double)p->total;
        if (frac > 1)
            frac = 1;
        char bar[21];
        int fill = (int)(frac * 20);
        for (int i = 0; i < 20; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[20] = '\0';
        fmt_duration(eta, sizeof eta,
                     rate > 0 ? (double)(p->total - (done < p->total ? done : p->total)) / rate
                              : -1);
        n = snprintf(buf, cap, "%s [%s] %llu/%llu %s %5.1f%% %.1f %s/s %s eta %s", p->label, bar,
                     (unsigned long long)done, (unsigned long long)p->total, p->unit, frac * 100,
                     rate, p->unit, els, eta);
    } else {
        n = snprintf(buf, cap, "%s %llu %s %.1f %s/s %s", p->label, (unsigned long long)done,
                     p->unit, rate, p->unit, els);
    }
    if (p->note[0] && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, " | %s", p->note);
}

static void draw(ef_progress *p, int final)
{
    char line[512];
    ef_progress_format(p, line, sizeof line);
    if (p->tty)
        fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    else
        fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

void ef_progress_add(ef_progress *p, uint64_t n)
{
    if (!p)
        return;
    atomic_fetch_add(&p->done, n);
    if (!p->enabled)
        return;
    uint64_t now = ef_now_ns(), last = atomic_load(&p->last_draw_ns);
    if ((double)(now - last) * 1e-9 < p->interval_s)
        return;
    if (!atomic_compare_exchange_strong(&p->last_draw_ns, &last, now))
        return;
    if (pthread_mutex_trylock(&p->mu) != 0)
        return;
    draw(p, 0);
    pthread_mutex_unlock(&p->mu);
}

void ef_progress_note(ef_progress *p, const char *fmt, ...)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->note, sizeof p->note, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&p->mu);
}

void ef_progress_finish(ef_progress *p)
{
    if (!p)
        return;
    if (p->enabled) {
        pthread_mutex_lock(&p->mu);
        draw(p, 1);
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_destroy(&p->mu);
    ef_free(p);
}
