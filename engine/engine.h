/*
 * engine/engine.h — the DeepSeek-V3.2 (DSA) inference engine: loading, forward, sampling, encoding.
 *
 * This component is still thin: its capability lands with its issue. Until then it
 * reports itself unavailable so that callers (the CLI) can say what is missing.
 *
 *   if (!ef_engine_available()) fprintf(stderr, "%s\n", ef_engine_missing());
 */
#ifndef EF_ENGINE_H
#define EF_ENGINE_H

#include "common/ef.h"

/* 1 when the component's capability is built, 0 while it is a placeholder. */
int ef_engine_available(void);
/* What is missing, for messages. Borrowed. */
const char *ef_engine_missing(void);

#endif
