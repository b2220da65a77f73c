/*
 * tools/tools_stub.c — placeholder until the tools capability lands; removed by it.
 */
#include "tools/tools.h"

int ef_tools_available(void)
{
    return 0;
}

const char *ef_tools_missing(void)
{
    return "the tools component (the tool registry, JSON Schemas and the built-in tools) has not landed yet";
}
