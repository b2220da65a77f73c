/*
 * sandbox/sandbox_stub.c — placeholder until the sandbox capability lands; removed by it.
 */
#include "sandbox/sandbox.h"

int ef_sandbox_available(void)
{
    return 0;
}

const char *ef_sandbox_missing(void)
{
    return "the sandbox component (isolation of untrusted code: namespaces, seccomp, limits, results, sessions) has not landed yet";
}
