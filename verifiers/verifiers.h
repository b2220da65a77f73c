/*
 * verifiers/verifiers.h — reward functions: exact, numeric, regex, JSON, state match, unit tests, Lua.
 *
 * This component is still thin: its capability lands with its issue. Until then it
 * reports itself unavailable so that callers (the CLI) can say what is missing.
 *
 *   if (!ef_verifiers_available()) fprintf(stderr, "%s\n", ef_verifiers_missing());
 */
#ifndef EF_VERIFIERS_H
#define EF_VERIFIERS_H

#include "common/ef.h"

/* 1 when the component's capability is built, 0 while it is a placeholder. */
int ef_verifiers_available(void);
/* What is missing, for messages. Borrowed. */
const char *ef_verifiers_missing(void);

#endif
