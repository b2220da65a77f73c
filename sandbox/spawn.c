/*
 * sandbox/spawn.c — starting and ending the sandbox's init from the caller's side.
 *
 * The init is clone()d with CLONE_VM (no copy of the caller's page tables, however large
 * the caller is) plus the new pid, mount, ipc, uts and cgroup namespaces, on a small stack
 * mapped here that also holds the stack of the program's process. All signals are blocked
 * around the clone so that none of the caller's handlers can run in the child before it
 * resets them. Its exit signal is 0, so only __WALL waits see it (a caller's waitpid(-1)
 * cannot steal it), and it comes with a pidfd that polls readable when it exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sandbox/sandbox_int.h"

#define STACK_HALF (128 * 1024)

static void stack_release(ef_sandbox_worker *w, void *stack, size_t len)
{
    if (!stack)
        return;
    if (w && w->n_stacks < (int)EF_ARRAY_LEN(w->stacks))
        w->stacks[w->n_stacks++] = stack;
    else
        munmap(stack, len);
}

void ef_sandbox__worker_free_stacks(ef_sandbox_worker *w)
{
    while (w->n_stacks > 0)
        munmap(w->stacks[--w->n_stacks], 2 * STACK_HALF + 4096);
}

int ef_sandbox__spawn(ef_ctx *ctx, ef_sandbox_worker *w, ef_sb_plan *plan, ef_sb_proc *proc)
{
    memset(proc, 0, sizeof *proc);
    proc->pid = -1;
    proc->pidfd = -1;
    proc->userns_slot = -1;
    proc->stack_len = 2 * STACK_HALF + 4096;
    void *stack;
    if (w && w->n_stacks > 0) {
        stack = w->stacks[--w->n_stacks];
    } else {
        stack = mmap(NULL, proc->stack_len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
            return ef_errorf(ctx, EF_ENOMEM, "sandbox: mmap of the child stacks: %s",
                             strerror(errno));
        mprotect(stack, 4096, PROT_NONE); /* guard page */
    }
    proc->stack = stack;
    char *base = (char *)stack + 4096;
    plan->prog_stack_top = base + STACK_HALF;
    void *init_top = base + 2 * STACK_HALF;

    int flags = CLONE_VM | CLONE_PIDFD;
    if (plan->full)
        flags |= CLONE_NEWPID;
    if (plan->full && plan->utsns_fd < 0)
        flags |= CLONE_NEWUTS;
    if (plan->full && plan->cgns_fd < 0)
        flags |= CLONE_NEWCGROUP;
    if (plan->full && plan->ipcns_fd < 0)
        flags |= CLONE_NEWIPC; /* else the init joins the worker's and empties it */
    if (plan->full && plan->tmpl_fd < 0)
        flags |= CLONE_NEWNS; /* with a template the init joins and copies it instead */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    proc->t0 = ef_now_s();
    int pid = clone(ef_sandbox__init_main, init_top, flags, plan, &pidfd);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        stack_release(w, stack, proc->stack_len);
        proc->stack = NULL;
        return ef_errorf(ctx, EF_ESANDBOX, "sandbox: clone of the init failed: %s%s", strerror(err),
                         err == EPERM ? " (creating namespaces needs root here)" : "");
    }
    proc->pid = pid;
    proc->pidfd = pidfd;
    return 0;
}

void ef_sandbox__finish(ef_sb_proc *proc)
{
    if (proc->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, proc->pidfd, EF_SB_FINISH_SIG, NULL, 0);
    else if (proc->pid > 0)
        kill(proc->pid, EF_SB_FINISH_SIG);
}

void ef_sandbox__kill(ef_sb_proc *proc)
{
    if (proc->pidfd >= 0)
        syscall(SYS_pidfd_send_signal, proc->pidfd, SIGKILL, NULL, 0);
    else if (proc->pid > 0)
        kill(proc->pid, SIGKILL);
}

int ef_sandbox__reap(ef_sandbox_worker *w, ef_sb_proc *proc, int *status, double *user_ms,
                     double *sys_ms)
{
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    int st = 0;
    pid_t r;
    do
        r = wait4(proc->pid, &st, __WALL, &ru);
    while (r < 0 && errno == EINTR);
    if (proc->pidfd >= 0)
        close(proc->pidfd);
    proc->pidfd = -1;
    stack_release(w, proc->stack, proc->stack_len);
    proc->stack = NULL;
    proc->pid = -1;
    if (r < 0)
        return EF_EIO;
    *status = st;
    proc->nvcsw = ru.ru_nvcsw;
    proc->nivcsw = ru.ru_nivcsw;
    *user_ms = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3;
    *sys_ms = ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3;
    return 0;
}

void ef_sandbox__worker_defer(ef_sandbox_worker *w, ef_sb_proc *proc)
{
    if (w->n_pending == (int)EF_ARRAY_LEN(w->pending)) {
        int st;
        double u, sy;
        ef_sandbox__reap(w, &w->pending[0], &st, &u, &sy);
        memmove(&w->pending[0], &w->pending[1], sizeof w->pending[0] * (size_t)(w->n_pending - 1));
        w->n_pending--;
    }
    w->pending[w->n_pending++] = *proc;
    proc->pid = -1;
    proc->pidfd = -1;
    proc->stack = NULL;
}

void ef_sandbox__worker_reap_pending(ef_sandbox_worker *w, int wait_all)
{
    int kept = 0;
    for (int i = 0; i < w->n_pending; i++) {
        ef_sb_proc *p = &w->pending[i];
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int exited = wait_all ||
                     (waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 &&
                      si.si_pid == p->pid);
        if (exited) {
            int st;
            double u, sy;
            ef_sandbox__reap(w, p, &st, &u, &sy);
        } else {
            w->pending[kept++] = *p;
        }
    }
    w->n_pending = kept;
}
