/*
 * tests/sandbox_attacks/attack.c — hostile programs for the sandbox's attack suite, one per
 * case name (argv[1]). Run inside the sandbox by tests/test_sandbox_attacks.c.
 *
 * Convention: a case whose attack is refused prints "contained" and exits 0; one that
 * gets through prints "ESCAPED: what" and exits 66. Cases whose containment is the run's
 * status (a limit, a seccomp violation) just do the hostile thing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <mqueue.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int escaped(const char *what)
{
    printf("ESCAPED: %s\n", what);
    fflush(stdout);
    return 66;
}

static int contained(void)
{
    printf("contained\n");
    return 0;
}

static int can_open(const char *path, int flags)
{
    int fd = open(path, flags);
    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

static __attribute__((noreturn)) int fork_bomb(void)
{
    for (;;) {
        pid_t p = fork();
        if (p == 0)
            continue;
        if (p < 0)
            usleep(1000);
    }
}

static int memory_bomb(void)
{
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p)
            return 3;
        memset(p, 1, 1 << 20);
    }
}

static __attribute__((noreturn)) int busy_loop(void)
{
    volatile unsigned long x = 0;
    for (;;)
        x++;
}

static int endless_output(int fd)
{
    char buf[4096];
    memset(buf, 'y', sizeof buf);
    for (;;)
        if (write(fd, buf, sizeof buf) < 0)
            return 1;
}

static int fill_tmp(void)
{
    int fd = open("/tmp/fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return escaped("cannot even open /tmp/fill");
    char buf[65536];
    memset(buf, 'x', sizeof buf);
    long total = 0;
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n < 0) {
            printf("stopped after %ld bytes: %s\n", total, strerror(errno));
            return errno == ENOSPC ? 1 : 2;
        }
        total += n;
        if (total > (1L << 34))
            return escaped("wrote 16 GiB to /tmp");
    }
}

static int huge_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 2;
    char buf[65536];
    memset(buf, 'h', sizeof buf);
    for (long i = 0; i < (1L << 20); i++)
        if (write(fd, buf, sizeof buf) < 0)
            return 1;
    return escaped("wrote 64 GiB");
}

static int read_host_files(void)
{
    static const char *const paths[] = {
        "/etc/shadow",     "/etc/gshadow", "/root/.bashrc", "/etc/hostname",
        "/etc/machine-id", "/home",        "/var/log",      "/work/main/CMakeLists.txt",
        "/proc/kcore",     "/sys/kernel",  "/boot",         "/run"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (can_open(paths[i], O_RDONLY))
            return escaped(paths[i]);
    return contained();
}

static int write_ro(void)
{
    static const char *const paths[] = {"/usr/bin/evil", "/etc/passwd", "/evil",
                                        "/usr/lib/evil", "/bin/evil",   "/etc/evil",
                                        "/work/evil",    "/dev/evil",   "/proc/evil"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (can_open(paths[i], O_WRONLY | O_CREAT))
            return escaped(paths[i]);
    if (chmod("/usr/bin/env", 04777) == 0)
        return escaped("chmod /usr/bin/env");
    return contained();
}

/* The host planted work/link -> a host file; following it must stay inside. */
static int symlink_escape(void)
{
    char buf[256];
    int fd = open("/work/link_to_host", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, "HOST-SECRET"))
                return escaped("read the host file through a symlink");
        }
    }
    if (symlink("/proc/1/root/etc/shadow", "/work/mylink") == 0 &&
        can_open("/work/mylink", O_RDONLY))
        return escaped("symlink through /proc/1/root");
    if (symlink("../../../../../../etc/shadow", "/work/dotdot") == 0 &&
        can_open("/work/dotdot", O_RDONLY))
        return escaped("dot-dot symlink");
    return contained();
}

static int hardlink_escape(void)
{
    if (link("/usr/bin/env", "/work/hl") == 0)
        return escaped("hardlink of a read-only bind into the workdir");
    if (link("/etc/passwd", "/work/hl2") == 0)
        return escaped("hardlink of /etc/passwd");
    if (link("/work/host_file", "/tmp/hl3") == 0)
        return escaped("hardlink across mounts");
    if (rename("/work/host_file", "/tmp/moved") == 0)
        return escaped("rename across mounts");
    return contained();
}

static int proc_root(void)
{
    char buf[256];
    if (can_open("/proc/1/root/etc/shadow", O_RDONLY) || can_open("/proc/1/environ", O_RDONLY) ||
        can_open("/proc/1/mem", O_RDONLY) || can_open("/proc/1/cmdline", O_RDONLY))
        return escaped("/proc/1");
    if (readlink("/proc/1/root", buf, sizeof buf) >= 0 ||
        readlink("/proc/1/exe", buf, sizeof buf) >= 0)
        return escaped("readlink /proc/1/*");
    if (can_open("/proc/self/root/etc/shadow", O_RDONLY) ||
        can_open("/proc/self/root/../../etc/shadow", O_RDONLY) ||
        can_open("/proc/self/cwd/../../../../etc/shadow", O_RDONLY))
        return escaped("/proc/self/root");
    if (can_open("/proc/sysrq-trigger", O_WRONLY) ||
        can_open("/proc/sys/kernel/hostname", O_WRONLY) ||
        can_open("/proc/sys/vm/drop_caches", O_WRONLY))
        return escaped("writable /proc/sys");
    /* every pid we can see must be ours */
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
            n++;
    if (d)
        closedir(d);
    if (n > 2)
        return escaped("sees foreign processes in /proc");
    return contained();
}

static int do_ptrace(void)
{
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    long r = ptrace(PTRACE_ATTACH, c, 0, 0);
    kill(c, SIGKILL);
    return r == 0 ? escaped("ptrace attach") : contained();
}

static int connect_to(const char *ip, int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
        printf("socket: %s\n", strerror(errno));
        return contained();
    }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    return r == 0 ? escaped("connected") : contained();
}

static int raw_sockets(void)
{
    int fams[][3] = {{AF_INET, SOCK_RAW, IPPROTO_ICMP},
                     {AF_PACKET, SOCK_RAW, 0},
                     {AF_NETLINK, SOCK_RAW, 0},
                     {AF_INET6, SOCK_DGRAM, 0},
                     {40 /* AF_VSOCK */, SOCK_STREAM, 0}};
    for (size_t i = 0; i < sizeof fams / sizeof *fams; i++) {
        int s = socket(fams[i][0], fams[i][1], fams[i][2]);
        if (s >= 0)
            return escaped("opened a non-unix socket");
    }
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0)
        return escaped("AF_UNIX should work (this is a false alarm)");
    return contained();
}

static int tiocsti(int high)
{
    char c = 'x';
    unsigned long req = TIOCSTI;
    if (high)
        req |= 1UL << 32;
    long r = syscall(SYS_ioctl, 0, req, &c);
    printf("ioctl returned %ld (%s)\n", r, strerror(errno));
    return contained();
}

static int kill_all(void)
{
    kill(-1, SIGKILL);
    return contained();
}

static int int80(void)
{
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory"); /* i386 getpid */
    printf("int 0x80 getpid returned %ld\n", ret);
#endif
    return contained();
}

static int x32(void)
{
    long r = syscall(0x40000000L | 39L); /* x32 getpid */
    printf("x32 getpid returned %ld\n", r);
    return contained();
}

static int daemonize(void)
{
    if (fork() == 0) {
        setsid();
        if (fork() == 0) {
            /* grandchild: keep touching a file in the (writable, host-bound) workdir */
            for (int i = 0; i < 400; i++) {
                int fd = open("/work/daemon_alive", O_WRONLY | O_CREAT | O_APPEND, 0644);
                if (fd >= 0) {
                    if (write(fd, "x", 1) < 0)
                        break;
                    close(fd);
                }
                usleep(10000);
            }
            _exit(0);
        }
        _exit(0);
    }
    usleep(50000);
    return contained();
}

static int leaked_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int dfd = d ? dirfd(d) : -1;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dfd) {
            char b[64];
            snprintf(b, sizeof b, "fd %d is open", fd);
            closedir(d);
            return escaped(b);
        }
    }
    if (d)
        closedir(d);
    return contained();
}

static int env_absent(void)
{
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, "PATH=", 5) && strncmp(*e, "HOME=", 5) && strncmp(*e, "LANG=", 5) &&
            strncmp(*e, "TMPDIR=", 7))
            return escaped(*e);
    }
    return contained();
}

/* Both: write our secret, then look for the other's for a while. */
static int cross_read(const char *mine, const char *theirs)
{
    char path[600];
    snprintf(path, sizeof path, "/tmp/secret-%s", mine);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "secret of %s\n", mine);
        fclose(f);
    }
    for (int round = 0; round < 30; round++) {
        snprintf(path, sizeof path, "/tmp/secret-%s", theirs);
        if (can_open(path, O_RDONLY))
            return escaped("read the other sandbox's /tmp");
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            snprintf(path, sizeof path, "/proc/%s/root/tmp/secret-%s", e->d_name, theirs);
            if (can_open(path, O_RDONLY)) {
                closedir(d);
                return escaped("read the other sandbox's /tmp through /proc");
            }
        }
        if (d)
            closedir(d);
        if (can_open("/dev/shm/secret-other", O_RDONLY))
            return escaped("shared /dev/shm");
        usleep(10000);
    }
    return contained();
}

/* The sandbox's init (pid 1) may share the program's uid outside (rootless mode,
 * sandbox/rootless.c): it must still be out of reach. A finish request it honored, or a
 * signal that killed it, would end this run before "contained". */
static int touch_init(void)
{
    struct rlimit one = {1, 1};
    if (prlimit(1, RLIMIT_NOFILE, &one, NULL) == 0)
        return escaped("prlimit on the init");
    char path[64], buf[256];
    for (int fd = 0; fd < 16; fd++) {
        snprintf(path, sizeof path, "/proc/1/fd/%d", fd);
        if (readlink(path, buf, sizeof buf) >= 0 || can_open(path, O_RDONLY))
            return escaped("the init's fds");
    }
    if (can_open("/proc/1/maps", O_RDONLY) || can_open("/proc/1/mem", O_RDWR) ||
        can_open("/proc/1/cwd/.", O_RDONLY) || can_open("/proc/1/ns/mnt", O_RDONLY))
        return escaped("the init's /proc files");
    int sigs[] = {SIGUSR1, SIGUSR2, SIGTERM, SIGSTOP, SIGKILL};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        kill(1, sigs[i]);
    usleep(300000);
    return contained();
}

/* A set-id file left in the writable workdir (a host directory) would run as the
 * sandbox's outer uid, the caller's own in rootless mode, for any local user who can reach
 * it: every way of setting the bits must fail. */
static int has_setid(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID));
}

static int setid_files(void)
{
    int fd = open("/work/s1", O_CREAT | O_WRONLY, 04755);
    if (fd >= 0)
        close(fd);
    if (has_setid("/work/s1"))
        return escaped("open(O_CREAT, 04755)");
    fd = open("/work/s2", O_CREAT | O_WRONLY, 0755);
    if (fd >= 0 && fchmod(fd, 04755) == 0)
        return escaped("fchmod 4755");
    if (fd >= 0)
        close(fd);
    if (chmod("/work/s2", 02755) == 0 || has_setid("/work/s2"))
        return escaped("chmod 2755");
    if (fchmodat(AT_FDCWD, "/work/s2", 06755, 0) == 0 || has_setid("/work/s2"))
        return escaped("fchmodat 6755");
    if (mknod("/work/s3", S_IFREG | 04755, 0) == 0 && has_setid("/work/s3"))
        return escaped("mknod S_IFREG|04755");
    struct {
        unsigned long long flags, mode, resolve;
    } how = {O_CREAT | O_WRONLY, 04755, 0};
    fd = (int)syscall(SYS_openat2, AT_FDCWD, "/work/s4", &how, sizeof how);
    if (fd >= 0)
        close(fd);
    if (has_setid("/work/s4"))
        return escaped("openat2 04755");
    if (system("cp /bin/true /work/s5 && chmod u+s /work/s5 2>/dev/null") == 0 ||
        has_setid("/work/s5"))
        return escaped("chmod u+s");
    return contained();
}

/* Kernel quotas the kernel also counts for the owner of the sandbox's user namespace
 * (root's, or the caller's in rootless mode): inotify instances and queued signals must
 * stop at the sandbox's own small caps. */
static int quotas(void)
{
    int n = 0;
    while (n < 1000 && syscall(SYS_inotify_init1, 0) >= 0)
        n++;
    if (n > 64) {
        fprintf(stderr, "%d inotify instances\n", n);
        return escaped("inotify instances past the sandbox's cap");
    }
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &s, NULL);
    union sigval v = {0};
    n = 0;
    while (n < 200000 && sigqueue(getpid(), SIGRTMIN + 2, v) == 0)
        n++;
    if (n > 4096) {
        fprintf(stderr, "%d queued signals\n", n);
        return escaped("queued signals past the sandbox's cap");
    }
    /* and none queued at the init, nor a forged end-of-run request */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR1;
    si.si_code = SI_QUEUE;
    syscall(SYS_rt_sigqueueinfo, 1, SIGUSR1, &si);
    for (int i = 0; i < 5000; i++)
        sigqueue(1, SIGRTMIN + 2, v);
    usleep(300000);
    return contained();
}

static int setuid_root(void)
{
    if (setuid(0) == 0 || seteuid(0) == 0)
        return escaped("setuid(0)");
    if (sethostname("pwned", 5) == 0)
        return escaped("sethostname");
    if (mknod("/tmp/sda", S_IFBLK | 0600, makedev(8, 0)) == 0)
        return escaped("mknod");
    if (can_open("/dev/mem", O_RDONLY) || can_open("/dev/sda", O_RDONLY) ||
        can_open("/dev/kmsg", O_RDONLY) || can_open("/dev/tty", O_RDWR))
        return escaped("device access");
    /* no CAP_CHOWN: a file someone else owns cannot be taken (rootless, /tmp's root is
     * the program's own: sandbox/rootless.c) */
    struct stat tst;
    if (stat("/tmp", &tst) == 0 && tst.st_uid != getuid() && chown("/tmp", 1000, 1000) == 0)
        return escaped("chown of /tmp");
    if (chown("/dev/null", 1000, 1000) == 0)
        return escaped("chown of /dev/null");
    return contained();
}

/* Leaves System V objects behind for the next run of the same worker to find. */
static int leave_ipc(void)
{
    int shm = shmget(0x4546, 4096, IPC_CREAT | 0666);
    char *m = shm >= 0 ? shmat(shm, NULL, 0) : (char *)-1;
    if (m != (char *)-1)
        strcpy(m, "the answer is 42");
    int msg = msgget(0x4547, IPC_CREAT | 0666);
    int sem = semget(0x4548, 2, IPC_CREAT | 0666);
    printf("left shm %d msg %d sem %d\n", shm, msg, sem);
    return shm >= 0 && msg >= 0 && sem >= 0 ? 0 : 1;
}

/* Finds no System V object of an earlier run, and cannot make a POSIX message queue (a
 * kind of object nothing would empty between runs). */
static int find_ipc(void)
{
    struct shm_info si;
    struct msginfo mi;
    struct seminfo se;
    if (shmctl(0, SHM_INFO, (struct shmid_ds *)&si) < 0 ||
        msgctl(0, MSG_INFO, (struct msqid_ds *)&mi) < 0 || semctl(0, 0, SEM_INFO, &se) < 0)
        return escaped("ipc info calls failed");
    if (si.used_ids || shmget(0x4546, 0, 0) >= 0)
        return escaped("a shared memory segment of an earlier run");
    if (mi.msgpool || msgget(0x4547, 0) >= 0)
        return escaped("a message queue of an earlier run");
    if (se.semusz || semget(0x4548, 0, 0) >= 0)
        return escaped("a semaphore set of an earlier run");
    struct mq_attr attr = {0, 1, 1, 0, {0}};
    mqd_t q = mq_open("/ef-left", O_CREAT | O_RDWR, 0600, &attr);
    if (q != (mqd_t)-1)
        return escaped("made a POSIX message queue");
    return contained();
}

static int raw(long nr, long a, long b, long c, long d);

/* Swaps the writable workdir's directory d for a symlink to a host directory and back,
 * as fast as it can, while the host hands the workdir back to the sandbox's uid
 * (ef_sandbox_dir_chown): a walk that followed the symlink would chown the host's files.
 * Says "ready" once it swaps, and goes on until killed (or 20 s). */
static int chown_race(const char *host_dir)
{
    long swaps = 0;
    for (time_t end = time(NULL) + 20; time(NULL) < end;) {
        for (int i = 0; i < 1000; i++) {
            if (rename("/work/d", "/work/d2") != 0 || symlink(host_dir, "/work/d") != 0)
                return escaped("could not swap /work/d (a false alarm)");
            unlink("/work/d");
            rename("/work/d2", "/work/d");
        }
        if (swaps == 0)
            printf("ready\n");
        swaps += 1000;
    }
    return contained();
}

/* The caller's real-time policy, negative nice, real-time I/O class and negative OOM
 * score stay the caller's, and the program cannot take them either. */
static int sched_inherit(void)
{
    int pol = sched_getscheduler(0);
    if (pol != SCHED_OTHER) {
        printf("policy %d\n", pol);
        return escaped("a real-time policy from the caller");
    }
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && nice < 0)
        return escaped("a negative nice from the caller");
    long io = syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
    if (io >= 0 && (io >> 13) == 1)
        return escaped("the real-time I/O class from the caller");
    int adj = 0;
    FILE *f = fopen("/proc/self/oom_score_adj", "r");
    if (f) {
        if (fscanf(f, "%d", &adj) != 1)
            adj = 0;
        fclose(f);
    }
    if (adj < 0)
        return escaped("a negative OOM score from the caller");
    struct sched_param sp = {1};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0 || sched_setscheduler(0, SCHED_RR, &sp) == 0)
        return escaped("took a real-time policy");
    if (setpriority(PRIO_PROCESS, 0, -1) == 0)
        return escaped("lowered its nice below 0");
    if (syscall(SYS_ioprio_set, 1, 0, 1L << 13) == 0)
        return escaped("took the real-time I/O class");
    int fd = open("/proc/self/oom_score_adj", O_WRONLY);
    if (fd >= 0) {
        ssize_t n = write(fd, "-1", 2);
        close(fd);
        if (n == 2)
            return escaped("lowered its OOM score");
    }
    return contained();
}

/* A filter stacked on the sandbox's: no notification listener of its own (its
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE would let the sandbox's denied calls through; the
 * kernel refuses a second listener in one filter chain), and a denied call is still
 * reported under an allow-all filter of its own. */
static int seccomp_stack(void)
{
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {1, allow};
    long lfd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                       &prog);
    if (lfd >= 0)
        return escaped("a seccomp notification listener of its own");
    printf("own listener: %s\n", strerror(errno));
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        printf("stacking an allow-all filter: %s\n", strerror(errno));
    return raw(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
}

/* Opens its stdin (the caller's bytes, in a memfd) again for writing through /proc and
 * rewrites it: the descriptor is read-only, the memfd itself must be sealed too. */
static int stdin_rewrite(void)
{
    int fd = open("/proc/self/fd/0", O_WRONLY);
    if (fd >= 0) {
        ssize_t n = pwrite(fd, "HACKED", 6, 0);
        close(fd);
        if (n > 0)
            return escaped("rewrote its stdin");
    }
    printf("reopen for writing: %s\n", fd < 0 ? strerror(errno) : "opened, writes refused");
    char buf[64] = "";
    ssize_t n = read(0, buf, sizeof buf - 1);
    if (n > 0)
        buf[n] = '\0';
    printf("stdin: %s", buf);
    return strncmp(buf, "original", 8) ? escaped("its stdin changed") : contained();
}

/* Writes the sysctls of the namespaces the run shares with the worker's other runs (ipc,
 * mqueue, network) and of the kernel: in rootless mode the ipc and network ones belong to
 * the caller's uid, which the program is outside, so only a read-only /proc/sys stops it
 * (raising kernel.shmall undid the run's shared memory cap; shmmni 0 broke later runs). */
static int sysctl_write(void)
{
    static const char *const files[] = {
        "/proc/sys/kernel/shmall",         "/proc/sys/kernel/shmmax",
        "/proc/sys/kernel/shmmni",         "/proc/sys/kernel/shm_rmid_forced",
        "/proc/sys/kernel/msgmnb",         "/proc/sys/kernel/msgmni",
        "/proc/sys/kernel/sem",            "/proc/sys/fs/mqueue/queues_max",
        "/proc/sys/net/ipv4/ping_group_range", "/proc/sys/net/ipv4/ip_unprivileged_port_start",
        "/proc/sys/net/core/somaxconn",    "/proc/sys/user/max_inotify_instances",
        "/proc/sys/kernel/hostname",       "/proc/sys/vm/overcommit_memory",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char old[256] = "";
        int fd = open(files[i], O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, old, sizeof old - 1) : -1;
        if (fd >= 0)
            close(fd);
        if (n <= 0)
            continue;
        old[n] = '\0';
        fd = open(files[i], O_WRONLY);
        if (fd < 0)
            continue;
        ssize_t w = write(fd, old, (size_t)n); /* the same value back: harmless if it lands */
        close(fd);
        if (w > 0) {
            printf("wrote %s\n", files[i]);
            return escaped("a writable sysctl");
        }
    }
    if (access("/sys/kernel", F_OK) == 0)
        return escaped("/sys is there");
    return contained();
}

/* Raises every limit the sandbox set past its hard limit, with setrlimit and with
 * prlimit on itself: all must be refused (no CAP_SYS_RESOURCE anywhere that counts). */
static int raise_limits(void)
{
    static const int res[] = {RLIMIT_AS,      RLIMIT_CPU,     RLIMIT_FSIZE,
                              RLIMIT_NOFILE,  RLIMIT_NPROC,   RLIMIT_CORE,
                              RLIMIT_MEMLOCK, RLIMIT_RTPRIO,  RLIMIT_NICE,
                              RLIMIT_MSGQUEUE, RLIMIT_SIGPENDING};
    int checked = 0;
    for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
        struct rlimit cur;
        if (getrlimit(res[i], &cur) != 0 || cur.rlim_max == RLIM_INFINITY)
            continue;
        struct rlimit up = {RLIM_INFINITY, RLIM_INFINITY};
        struct rlimit one_more = {cur.rlim_max + 1, cur.rlim_max + 1};
        if (setrlimit(res[i], &up) == 0 || setrlimit(res[i], &one_more) == 0 ||
            prlimit(0, res[i], &up, NULL) == 0) {
            printf("resource %d raised past %llu\n", res[i], (unsigned long long)cur.rlim_max);
            return escaped("raised a hard limit");
        }
        checked++;
    }
    printf("%d hard limits held\n", checked);
    return checked < 8 ? escaped("fewer limits than the sandbox sets (a false alarm)") : contained();
}

/* Memory no mapping holds, which neither RLIMIT_AS nor the processes' resident memory
 * counts: memfds written to (each under RLIMIT_FSIZE) and kept open, and System V shared
 * memory segments touched and detached. Holds what it got for a second (the tree's memory
 * is polled every 100 ms) and says how much. */
static int hoard(const char *kind, long want_mb, long limit_mb)
{
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    long got = 0;
    while (got < want_mb) {
        if (!strcmp(kind, "memfd")) {
            int fd = memfd_create("hoard", 0);
            if (fd < 0)
                break;
            for (int i = 0; i < 7 && got < want_mb; i++, got++) /* 7 MB: under RLIMIT_FSIZE */
                if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk)
                    goto done;
        } else {
            int id = shmget(IPC_PRIVATE, 32 << 20, IPC_CREAT | 0600);
            char *m = id >= 0 ? shmat(id, NULL, 0) : (char *)-1;
            if (m == (char *)-1) {
                printf("shmget/shmat: %s\n", strerror(errno));
                break;
            }
            for (int i = 0; i < 32; i++)
                memcpy(m + ((long)i << 20), chunk, sizeof chunk);
            shmdt(m);
            got += 32;
        }
    }
done:
    printf("held %ld MB\n", got);
    fflush(stdout);
    sleep(1);
    return got > limit_mb ? escaped("held more than the memory limit") : contained();
}

/* Connects to a host listener in the abstract unix namespace, which belongs to the network
 * namespace (AF_UNIX stays allowed without network). */
static int abstract_unix(const char *name)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        return escaped("no AF_UNIX socket (a false alarm)");
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n > sizeof a.sun_path - 2)
        n = sizeof a.sun_path - 2;
    memcpy(a.sun_path + 1, name, n);
    int r = connect(s, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n));
    printf("connect @%s: %s\n", name, r == 0 ? "connected" : strerror(errno));
    close(s);
    return r == 0 ? escaped("reached a host abstract unix socket") : contained();
}

static int raw(long nr, long a, long b, long c, long d)
{
    long r = syscall(nr, a, b, c, d);
    printf("syscall %ld returned %ld (%s)\n", nr, r, strerror(errno));
    return contained();
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2)
        return 2;
    const char *c = argv[1];
    if (!strcmp(c, "fork_bomb"))
        return fork_bomb();
    if (!strcmp(c, "memory_bomb"))
        return memory_bomb();
    if (!strcmp(c, "busy_loop"))
        return busy_loop();
    if (!strcmp(c, "sleep"))
        return sleep(60), 0;
    if (!strcmp(c, "endless_stdout"))
        return endless_output(1);
    if (!strcmp(c, "endless_stderr"))
        return endless_output(2);
    if (!strcmp(c, "fill_tmp"))
        return fill_tmp();
    if (!strcmp(c, "huge_file"))
        return huge_file(argc > 2 ? argv[2] : "/tmp/huge");
    if (!strcmp(c, "read_host_files"))
        return read_host_files();
    if (!strcmp(c, "write_ro"))
        return write_ro();
    if (!strcmp(c, "symlink_escape"))
        return symlink_escape();
    if (!strcmp(c, "hardlink_escape"))
        return hardlink_escape();
    if (!strcmp(c, "proc_tricks"))
        return proc_root();
    if (!strcmp(c, "touch_init"))
        return touch_init();
    if (!strcmp(c, "setid_files"))
        return setid_files();
    if (!strcmp(c, "quotas"))
        return quotas();
    if (!strcmp(c, "ptrace"))
        return do_ptrace();
    if (!strcmp(c, "mount"))
        return mount("none", "/tmp", "tmpfs", 0, NULL) == 0 ? escaped("mount") : contained();
    if (!strcmp(c, "unshare"))
        return unshare(CLONE_NEWUSER) == 0 ? escaped("unshare") : contained();
    if (!strcmp(c, "setns")) {
        int fd = open("/proc/self/ns/net", O_RDONLY);
        return setns(fd, 0) == 0 ? escaped("setns") : contained();
    }
    if (!strcmp(c, "clone_newuser"))
        return raw(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0);
    if (!strcmp(c, "chroot"))
        return chroot("/tmp") == 0 ? escaped("chroot") : contained();
    if (!strcmp(c, "connect") && argc > 3)
        return connect_to(argv[2], atoi(argv[3]));
    if (!strcmp(c, "raw_sockets"))
        return raw_sockets();
    if (!strcmp(c, "tiocsti"))
        return tiocsti(0);
    if (!strcmp(c, "tiocsti_high"))
        return tiocsti(1);
    if (!strcmp(c, "kill_all"))
        return kill_all();
    if (!strcmp(c, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        return raw(SYS_bpf, BPF_MAP_CREATE, (long)&attr, sizeof attr, 0);
    }
    if (!strcmp(c, "perf_event_open")) {
        struct perf_event_attr pe;
        memset(&pe, 0, sizeof pe);
        pe.size = sizeof pe;
        pe.type = PERF_TYPE_SOFTWARE;
        return raw(SYS_perf_event_open, (long)&pe, 0, -1, -1);
    }
    if (!strcmp(c, "io_uring"))
        return raw(SYS_io_uring_setup, 8, 0, 0, 0);
    if (!strcmp(c, "keyctl"))
        return raw(SYS_add_key, (long)"user", (long)"k", (long)"v", 1);
    if (!strcmp(c, "userfaultfd"))
        return raw(SYS_userfaultfd, 0, 0, 0, 0);
    if (!strcmp(c, "process_vm_readv"))
        return raw(SYS_process_vm_readv, 1, 0, 0, 0);
    if (!strcmp(c, "open_by_handle_at"))
        return raw(SYS_open_by_handle_at, AT_FDCWD, 0, 0, 0);
    if (!strcmp(c, "kexec"))
        return raw(SYS_kexec_load, 0, 0, 0, 0);
    if (!strcmp(c, "int80"))
        return int80();
    if (!strcmp(c, "x32"))
        return x32();
    if (!strcmp(c, "daemonize"))
        return daemonize();
    if (!strcmp(c, "leaked_fds"))
        return leaked_fds();
    if (!strcmp(c, "env_absent"))
        return env_absent();
    if (!strcmp(c, "cross_read") && argc > 3)
        return cross_read(argv[2], argv[3]);
    if (!strcmp(c, "setuid_root"))
        return setuid_root();
    if (!strcmp(c, "leave_ipc"))
        return leave_ipc();
    if (!strcmp(c, "find_ipc"))
        return find_ipc();
    if (!strcmp(c, "clone3"))
        return raw(SYS_clone3, 0, 0, 0, 0);
    if (!strcmp(c, "chown_race") && argc > 2)
        return chown_race(argv[2]);
    if (!strcmp(c, "sched_inherit"))
        return sched_inherit();
    if (!strcmp(c, "seccomp_stack"))
        return seccomp_stack();
    if (!strcmp(c, "raise_limits"))
        return raise_limits();
    if (!strcmp(c, "sysctl_write"))
        return sysctl_write();
    if (!strcmp(c, "hoard") && argc > 4)
        return hoard(argv[2], atol(argv[3]), atol(argv[4]));
    if (!strcmp(c, "stdin_rewrite"))
        return stdin_rewrite();
    if (!strcmp(c, "abstract_unix") && argc > 2)
        return abstract_unix(argv[2]);
    fprintf(stderr, "unknown case %s\n", c);
    return 2;
}
