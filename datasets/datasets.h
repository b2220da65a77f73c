/*
 * datasets/datasets.h — the SQLite store: schema, migrations, writer; export, stats, merge.
 *
 * This component is still thin: its capability lands with its issue. Until then it
 * reports itself unavailable so that callers (the CLI) can say what is missing.
 *
 *   if (!ef_datasets_available()) fprintf(stderr, "%s\n", ef_datasets_missing());
 */
#ifndef EF_DATASETS_H
#define EF_DATASETS_H

#include "common/ef.h"

/* 1 when the component's capability is built, 0 while it is a placeholder. */
int ef_datasets_available(void);
/* What is missing, for messages. Borrowed. */
const char *ef_datasets_missing(void);

#endif
