/*
 * sandbox/rootless.c — full isolation for a caller that is not root.
 *
 * The sandbox builds mount trees, namespaces and id maps, which takes capabilities. Root
 * has them on the host. An unprivileged caller gets them the way bubblewrap and podman do:
 * before its first thread, the process moves into a user namespace of its own that maps
 * only its uid and gid (to 0), and into a mount namespace owned by it. There it holds every
 * capability over the namespaces it makes next, and none over the host: to the kernel its
 * files are still the caller's, its signals still the caller's.
 *
 * What changes for the sandbox (the rest of the component reads ef_sandbox__rootless()):
 *   - one id only is mapped, so every worker's programs run as that id outside (the
 *     caller's own uid) rather than as uid_base + slot; inside they are still uid 1000;
 *   - the program's init shares the caller's memory (CLONE_VM) and, outside, its uid. The
 *     kernel's ptrace checks would let the program at the init's /proc files (mem, fds,
 *     root) if that memory were dumpable, so the process turns dumpable off here, for
 *     good, and nothing in the sandbox turns it back on in this mode;
 *   - /dev nodes are bound from the host (mknod is root's), /proc is mounted before the
 *     run leaves the host's tree (the kernel mounts a proc only where one is fully
 *     visible already), workdirs need no id-mapped mount (their files are the caller's),
 *     and rlimits cannot be raised past the caller's hard limits.
 *
 * ef_sandbox_rootless_enter() must run while the process has one thread: envforge's main()
 * calls it first thing, and so do the test programs that run as an unprivileged user.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

static int rootless_on;
static char rootless_why[256];

static int write_proc(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = strlen(data);
    ssize_t n = write(fd, data, len);
    int err = n == (ssize_t)len ? 0 : (n < 0 ? -errno : -EIO);
    close(fd);
    return err;
}

/* The host's user namespace maps every id to itself: "0 0 4294967295". */
static int in_initial_userns(void)
{
    FILE *f = fopen("/proc/self/uid_map", "re");
    if (!f)
        return 1; /* no user namespaces in this kernel */
    unsigned long a = 0, b = 0, n = 0;
    int fields = fscanf(f, "%lu %lu %lu", &a, &b, &n);
    int more = fgetc(f) != EOF && fscanf(f, "%lu", &a) == 1;
    fclose(f);
    return fields == 3 && a == 0 && b == 0 && n == 4294967295UL && !more;
}

int ef_sandbox_rootless_enter(void)
{
    if (rootless_on)
        return 1;
    if (geteuid() == 0) {
        /* root of a user namespace other than the host's (a rootless container, or a child
         * of a process that entered one here) has no capabilities over the host's
         * namespaces either: the same mode, without a namespace of its own */
        if (in_initial_userns())
            return 0;
        /* a mount namespace of our own user namespace's (under `unshare -Ur` ours is the
         * host's, where we may not clone trees or mount a proc) */
        unshare(CLONE_NEWNS);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        rootless_on = 1;
        return 1;
    }
    const char *env = getenv("EF_SANDBOX_ROOTLESS");
    if (env && !strcmp(env, "0")) {
        snprintf(rootless_why, sizeof rootless_why,
                 "EF_SANDBOX_ROOTLESS=0 turned the unprivileged user namespace off");
        return 0;
    }
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (uid != geteuid() || gid != getegid()) {
        snprintf(rootless_why, sizeof rootless_why,
                 "envforge runs set-id (real uid %u, effective %u): it does not enter a user "
                 "namespace then", (unsigned)uid, (unsigned)geteuid());
        return 0;
    }
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
        int err = errno;
        snprintf(rootless_why, sizeof rootless_why,
                 "an unprivileged user namespace was refused (unshare: %s)%s", strerror(err),
                 err == EPERM || err == ENOSPC
                     ? "; allow them (sysctl user.max_user_namespaces=15000, and on Ubuntu "
                       "kernel.apparmor_restrict_unprivileged_userns=0) or run as root"
                     : err == EINVAL ? "; the process already had threads" : "");
        return 0;
    }
    char map[64];
    int rc = write_proc("/proc/self/setgroups", "deny");
    if (rc == -ENOENT)
        rc = 0; /* before Linux 3.19 */
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if (!rc)
        rc = write_proc("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    if (!rc)
        rc = write_proc("/proc/self/gid_map", map);
    if (rc) {
        /* half made: the process is in a namespace whose ids are unmapped; nothing
         * sandboxed can run, and the reason says so */
        snprintf(rootless_why, sizeof rootless_why,
                 "writing the id maps of the unprivileged user namespace failed: %s",
                 strerror(-rc));
        return 0;
    }
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    rootless_on = 1;
    return 1;
}

int ef_sandbox__rootless(void)
{
    return rootless_on;
}

const char *ef_sandbox__rootless_why(void)
{
    return rootless_why[0] ? rootless_why : NULL;
}
