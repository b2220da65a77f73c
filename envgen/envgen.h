/*
 * envgen/envgen.h — the Lua runtime and env API, task generation, validation, dedup, levels.
 *
 * This component is still thin: its capability lands with its issue. Until then it
 * reports itself unavailable so that callers (the CLI) can say what is missing.
 *
 *   if (!ef_envgen_available()) fprintf(stderr, "%s\n", ef_envgen_missing());
 */
#ifndef EF_ENVGEN_H
#define EF_ENVGEN_H

#include "common/ef.h"

/* 1 when the component's capability is built, 0 while it is a placeholder. */
int ef_envgen_available(void);
/* What is missing, for messages. Borrowed. */
const char *ef_envgen_missing(void);

#endif
