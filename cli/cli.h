/*
 * cli/cli.h — the subcommands of `envforge`, one file each (cli/cmd_<name>.c).
 *
 * Each subcommand gets argv from its own name on (argv[0] is "gen", "run", ...) and
 * returns the process exit code: EF_EXIT_OK (0), EF_EXIT_FAIL (1) or EF_EXIT_USAGE (2).
 * Subcommands parse arguments and call the libraries, nothing more.
 */
#ifndef EF_CLI_H
#define EF_CLI_H

#include <stdint.h>
#include <stdio.h>

#define EF_EXIT_OK 0
#define EF_EXIT_FAIL 1
#define EF_EXIT_USAGE 2

typedef int (*ef_cli_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    ef_cli_fn fn;
    const char *summary;
} ef_cli_command;

int ef_cli_gen(int argc, char **argv);
int ef_cli_inspect(int argc, char **argv);
int ef_cli_run(int argc, char **argv);
int ef_cli_export(int argc, char **argv);
int ef_cli_stats(int argc, char **argv);
int ef_cli_report(int argc, char **argv);
int ef_cli_sandbox(int argc, char **argv);
int ef_cli_swe(int argc, char **argv);
int ef_cli_engine(int argc, char **argv);
int ef_cli_serve(int argc, char **argv);
int ef_cli_merge(int argc, char **argv);
int ef_cli_tools(int argc, char **argv);
int ef_cli_corpus(int argc, char **argv);
/* `envforge engine encode|tokenize ...` (cli/cmd_engine_text.c), called by cmd_engine.c. */
int ef_cli_engine_encode(int argc, char **argv);
int ef_cli_engine_tokenize(int argc, char **argv);

/* 1 when argv holds -h or --help (before any "--"). */
int ef_cli_wants_help(int argc, char **argv);
/* For a subcommand whose capability has not landed: prints its usage when asked for
 * help (exit 0), otherwise says what is missing and returns EF_EXIT_USAGE. */
int ef_cli_not_landed(int argc, char **argv, const char *usage, const char *missing);
/* Prints "envforge NAME: message" and the hint to use --help; returns EF_EXIT_USAGE. */
int ef_cli_usage_error(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Parses a --k list like "1,4,8" (ascending, each in 1..1000000, at most max_k of them)
 * into ks[0..*n_ks); -1 on a bad or empty list. Used by `stats` and `report`
 * (cli/cmd_stats.c). */
int ef_cli_parse_ks(const char *v, int *ks, int max_k, int *n_ks);
/* Parses a reward threshold (--success, --min-reward): a number in [0, 1]; -1 when v is
 * not one. Used by `stats`, `report` and `export` (cli/cmd_stats.c). */
int ef_cli_parse_reward(const char *v, double *out);
/* Opens the store at db read-only (what `stats`, `report` and `export` read); *out:
 * ef_store_close. The error is on ctx. */
typedef struct ef_store ef_store;
typedef struct ef_ctx ef_ctx;
int ef_cli_store_open_read(ef_ctx *ctx, const char *db, ef_store **out);
/* EF_ENOTFOUND, with a message naming it and db, when run (or env) is not NULL and no run
 * (env) of that name is in the store; used for --run / --env of `stats`, `report` and
 * `export` (cli/cmd_stats.c). */
int ef_cli_store_check_filters(ef_ctx *ctx, ef_store *s, const char *db, const char *run,
                               const char *env);

/* Strict number parsing for flags (cli/parse.c). Each accepts the whole text as one
 * decimal number in [lo, hi] — no empty text, trailing junk, sign on an unsigned value,
 * overflow, NaN or infinity — and stores it in *out (0). Otherwise it prints
 * "envforge CMD: FLAG: 'text' is not ... (expected an integer in [lo, hi])" on stderr
 * and returns -1: the caller returns EF_EXIT_USAGE.
 *     uint64_t n;
 *     if (ef_cli_parse_u64("gen", "-n", v, 1, 1000000, &n) < 0) return EF_EXIT_USAGE; */
int ef_cli_parse_u64(const char *cmd, const char *flag, const char *text, uint64_t lo,
                     uint64_t hi, uint64_t *out);
int ef_cli_parse_int(const char *cmd, const char *flag, const char *text, long long lo,
                     long long hi, long long *out);
/* ef_cli_parse_int into an int. */
int ef_cli_parse_i32(const char *cmd, const char *flag, const char *text, int lo, int hi,
                     int *out);
int ef_cli_parse_double(const char *cmd, const char *flag, const char *text, double lo,
                        double hi, double *out);
/* A number in (0, 1] (top-p, a share of the context window), with the same rules. */
int ef_cli_parse_fraction(const char *cmd, const char *flag, const char *text, double *out);

/* Output files (cli/output.c). ef_cli_same_file: 1 when paths a and b name one file
 * (same device and inode when both exist, same canonical path otherwise).
 * ef_cli_check_output: EF_EXIT_USAGE, after saying so on stderr, when out is the store;
 * call it before opening anything. */
int ef_cli_same_file(const char *a, const char *b);
int ef_cli_check_output(const char *cmd, const char *store, const char *out);
/* Writes -o FILE through FILE.tmp-XXXXXX renamed over FILE by ef_cli_out_close(ok=1)
 * and removed with ok=0, so a failed command leaves an existing FILE as it was. A FILE
 * that exists and is not a regular file (a pipe, /dev/stdout) is written in place. Both
 * return -1 with the reason (path and strerror) in err. */
typedef struct {
    const char *path;
    char *tmp;  /* the temporary file, NULL when FILE is written in place */
    char *real; /* FILE's target when FILE is a symlink */
    FILE *f;
} ef_cli_out;
int ef_cli_out_open(ef_cli_out *o, const char *path, char *err, size_t err_cap);
int ef_cli_out_close(ef_cli_out *o, int ok, char *err, size_t err_cap);

#endif
