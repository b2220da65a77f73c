/*
 * tools/tools_int.h — declarations shared between the files of tools/ (not public).
 */
#ifndef EF_TOOLS_INT_H
#define EF_TOOLS_INT_H

#include <sqlite3.h>
#include "common/ef.h"
#include "common/json.h"
#include "tools/tools.h"

struct sockaddr;

/* One entry of the editor's undo history: the content a path had before an edit. */
typedef struct {
    char *path;    /* relative to the workdir, as given */
    char *content; /* NULL: the file did not exist */
    size_t len;
} ef_tools__undo;

typedef struct ef_tools__python ef_tools__python; /* tools/python.c */

struct ef_tool_ctx {
    ef_ctx *ctx;
    ef_tools_config cfg; /* string fields point at the owned copies below */
    char *own_strings[12];
    ef_tools__undo *undo;
    size_t n_undo, cap_undo, undo_bytes;
    sqlite3 *corpus;                 /* opened on first use */
    ef_tools__python *python;        /* started on first use */
    void (*python_free)(ef_tools__python *py); /* set with python (keeps python.c out of
                                                  programs that do not register it) */
    ef_sandbox_worker *own_worker;   /* made on first use when the config gives none */
    int workdir_dirty;               /* files changed on the host since the last chown */
    int submitted;
    char *answer;
};

/* The cap on the editor's undo history, in bytes of saved content. */
#define EF_TOOLS__UNDO_MAX_BYTES (64u << 20)

/* ---- builtins: each file defines its registration --------------------------- */
int ef_tools__add_python(ef_tool_registry *reg);
int ef_tools__add_bash(ef_tool_registry *reg);
int ef_tools__add_editor(ef_tool_registry *reg);
int ef_tools__add_search(ef_tool_registry *reg);
int ef_tools__add_fetch(ef_tool_registry *reg);
int ef_tools__add_git(ef_tool_registry *reg);
int ef_tools__add_submit(ef_tool_registry *reg);

/* The sandbox worker of the context (the config's, or one made on first use), with the
 * workdir handed to its uid when host-side tools changed files since the last call. */
int ef_tools__sandbox_prepare(ef_tool_ctx *tc, ef_sandbox_worker **out);
/* Host-side file access as the sandbox's uid. While the agent can plant anything in its
 * workdir (links, FIFOs, a .git/config whose core.worktree is "/"), the editor and git
 * run on the host; when envforge runs as root they switch the calling thread's file
 * system ids (setfsuid/setfsgid, and a one-entry group list) to the worker's uid, so the
 * kernel refuses what those ids may not touch, whatever a bug or a race lets through.
 * A no-op when not root. Always pair with ef_tools__fs_restore. */
typedef struct {
    int active;
    unsigned fsuid, fsgid;
    int n_groups;
    unsigned groups[64];
} ef_tools__fsid;
int ef_tools__fs_drop(ef_tool_ctx *tc, ef_tools__fsid *saved);
void ef_tools__fs_restore(ef_tools__fsid *saved);
/* The workdir's worker, made without the isolation check (for its uid), and the workdir
 * handed to that uid when dirty. */
int ef_tools__worker(ef_tool_ctx *tc, ef_sandbox_worker **out);

/* Sandbox options for a python/bash run in this context. */
void ef_tools__sandbox_options(const ef_tool_ctx *tc, int64_t wall_ms, int mem_mb,
                               ef_sandbox_options *o);

/* ---- helpers ------------------------------------------------------------------- */

/* The context a registry reports errors on. */
ef_ctx *ef_tools__registry_ctx(const ef_tool_registry *reg);

/* Result helpers: text taken over (ef_malloc'd) / copied. Return 0 or EF_ENOMEM. */
int ef_tools__result_take(ef_tool_result *r, int is_error, char *text);
int ef_tools__result_error(ef_tool_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Opens the corpus of the context (read-only), on first use. */
int ef_tools__corpus_open(ef_tool_ctx *tc, sqlite3 **out);
/* One document by id: {"id","title","url","text"}. EF_ENOTFOUND when absent. */
int ef_tools__corpus_get(ef_ctx *ctx, sqlite3 *db, const char *id, cJSON **out);
int ef_tools__corpus_query(ef_ctx *ctx, sqlite3 *db, const char *query, int k, cJSON **out);

/* HTML to readable text (ef_free). title_out (may be NULL) gets the <title> (ef_free,
 * NULL when absent). */
int ef_tools__html_to_text(const char *html, size_t len, char **text_out, char **title_out);

/* ---- HTTP (tools/http.c) ------------------------------------------------------- */

typedef struct {
    int timeout_ms;
    int max_redirects;      /* followed by hand; each hop's address checked again */
    size_t max_bytes;       /* body cap */
    int truncate_ok;        /* 1: a body over the cap is cut (truncated = 1), 0: EF_ELIMIT */
    int allow_private;
    const char *allow_nets; /* comma-separated CIDRs */
    const char *auth_bearer;/* header value, never logged */
} ef_tools__http_opts;

typedef struct {
    long status;
    char *body;             /* NUL-terminated (ef_free) */
    size_t len;
    char *content_type;     /* ef_free; may be NULL */
    char *final_url;        /* after redirects (ef_free) */
    long retry_after_s;     /* Retry-After in seconds, -1 when absent */
    int truncated;
} ef_tools__http_resp;

/* One GET with the address policy. Transport failures, refused addresses and redirect
 * loops fail with a message on ctx (EF_EHTTP, EF_ETIMEOUT, EF_EINVAL for refusals,
 * EF_ELIMIT); any HTTP status is a success (look at resp->status). */
int ef_tools__http_get(ef_ctx *ctx, const char *url, const ef_tools__http_opts *opts,
                       ef_tools__http_resp *resp);
void ef_tools__http_resp_free(ef_tools__http_resp *resp);
/* 1 when the numeric address (AF_INET/AF_INET6 sockaddr) may be contacted under the
 * policy; otherwise 0 and why (a static string: "loopback", "private", ...). */
int ef_tools__addr_allowed(const struct sockaddr *sa, int allow_private, const char *allow_nets,
                           const char **why);

/* ---- files under the workdir (tools/fsafe.c) -------------------------------------- */

/* Opens path (relative, inside dirfd's tree) without following symlinks and without
 * leaving the tree: absolute paths, "..", and symlinks in any component are refused
 * with EF_EINVAL. flags as for openat (O_NOFOLLOW added). With O_CREAT, missing parent
 * directories are made when make_parents is 1. Returns the fd or a negative code. */
int ef_tools__open_beneath(ef_ctx *ctx, int dirfd, const char *path, int flags, int mode,
                           int make_parents);
/* Checks a relative path's form (no absolute, no "..", not empty). */
int ef_tools__path_check(ef_ctx *ctx, const char *path);

#endif
