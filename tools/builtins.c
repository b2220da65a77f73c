/*
 * tools/builtins.c — the list of built-in tools and their registration, in the order
 * `envforge tools` shows them.
 */
#include <string.h>
#include "tools/tools_int.h"

typedef struct {
    const char *name;
    int (*add)(ef_tool_registry *reg);
} builtin;

static const builtin builtins[] = {
    {"python", ef_tools__add_python}, {"bash", ef_tools__add_bash},
    {"editor", ef_tools__add_editor}, {"search", ef_tools__add_search},
    {"fetch", ef_tools__add_fetch},   {"git", ef_tools__add_git},
    {"submit", ef_tools__add_submit},
};

const char *const ef_tools_builtin_names[] = {"python", "bash",  "editor", "search",
                                              "fetch",  "git",   "submit", NULL};

int ef_tools_add_builtins(ef_tool_registry *reg, const char *const *names)
{
    if (!names)
        names = ef_tools_builtin_names;
    for (size_t i = 0; names[i]; i++) {
        size_t k = 0;
        while (k < EF_ARRAY_LEN(builtins) && strcmp(builtins[k].name, names[i]) != 0)
            k++;
        if (k == EF_ARRAY_LEN(builtins))
            return ef_errorf(ef_tools__registry_ctx(reg), EF_ENOTFOUND,
                             "no built-in tool \"%s\" (python, bash, editor, search, fetch, "
                             "git, submit)",
                             names[i]);
        int rc = builtins[k].add(reg);
        if (rc < 0)
            return rc;
    }
    return 0;
}
