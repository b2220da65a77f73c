/*
 * tools/tools.h — the tool registry, JSON Schemas and the built-in tools.
 *
 * This component is still thin: its capability lands with its issue. Until then it
 * reports itself unavailable so that callers (the CLI) can say what is missing.
 *
 *   if (!ef_tools_available()) fprintf(stderr, "%s\n", ef_tools_missing());
 */
#ifndef EF_TOOLS_H
#define EF_TOOLS_H

#include "common/ef.h"

/* 1 when the component's capability is built, 0 while it is a placeholder. */
int ef_tools_available(void);
/* What is missing, for messages. Borrowed. */
const char *ef_tools_missing(void);

#endif
