/*
 * common/progress.h — a progress bar on stderr.
 *
 * On a terminal: one line redrawn at most 10 times a second with a bar, done/total,
 * rate, elapsed and ETA, and a caller note ("pass 93.1%"). Otherwise (logs, CI): a plain
 * line every few seconds and a last line at the end. EF_PROGRESS=0 silences it.
 * ef_progress_add is thread-safe.
 *
 *   ef_progress *p = ef_progress_new("gen travel", 1000, "tasks");
 *   for (...) { ...; ef_progress_add(p, 1); }
 *   ef_progress_note(p, "kept %d dropped %d", kept, dropped);
 *   ef_progress_finish(p);   // prints the final line and frees
 */
#ifndef EF_PROGRESS_H
#define EF_PROGRESS_H

#include <stdint.h>

typedef struct ef_progress ef_progress;

/* total 0 means unknown (no bar, no ETA). Returns NULL when out of memory; every
 * function accepts NULL and then does nothing. */
ef_progress *ef_progress_new(const char *label, uint64_t total, const char *unit);
void ef_progress_add(ef_progress *p, uint64_t n);
void ef_progress_note(ef_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ef_progress_finish(ef_progress *p);
/* Render into buf (for tests): the line that would be printed now. */
void ef_progress_format(ef_progress *p, char *buf, size_t cap);

#endif
