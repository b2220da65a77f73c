/*
 * agent/agent.h — conversations, tool-call parsing, model backends, the episode loop, the runner.
 *
 * This component is still thin: its capability lands with its issue. Until then it
 * reports itself unavailable so that callers (the CLI) can say what is missing.
 *
 *   if (!ef_agent_available()) fprintf(stderr, "%s\n", ef_agent_missing());
 */
#ifndef EF_AGENT_H
#define EF_AGENT_H

#include "common/ef.h"

/* 1 when the component's capability is built, 0 while it is a placeholder. */
int ef_agent_available(void);
/* What is missing, for messages. Borrowed. */
const char *ef_agent_missing(void);

#endif
