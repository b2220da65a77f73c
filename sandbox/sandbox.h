/*
 * sandbox/sandbox.h — isolation of untrusted code: namespaces, seccomp, limits, results, sessions.
 *
 * This component is still thin: its capability lands with its issue. Until then it
 * reports itself unavailable so that callers (the CLI) can say what is missing.
 *
 *   if (!ef_sandbox_available()) fprintf(stderr, "%s\n", ef_sandbox_missing());
 */
#ifndef EF_SANDBOX_H
#define EF_SANDBOX_H

#include "common/ef.h"

/* 1 when the component's capability is built, 0 while it is a placeholder. */
int ef_sandbox_available(void);
/* What is missing, for messages. Borrowed. */
const char *ef_sandbox_missing(void);

#endif
