/* The first steps of most container escapes, tried from inside a container; one line per attempt:
 * "NAME ERRNO" (0: it worked). Built static by tests/privileged/test_security_seccomp.py and run from a
 * read-only volume, so it needs nothing from the image. It only touches what it creates itself: a nested user
 * namespace with its own mount and network namespaces (a tmpfs and an nf_tables table live and die there),
 * a key in its own process keyring, a perf counter on itself, a userfaultfd, its own personality.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#define UFFD_USER_MODE_ONLY 1
#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_PROCESS_KEYRING -2
#define KEY_SPEC_SESSION_KEYRING -3

static void report(const char *name, long rc) { printf("%s %d\n", name, rc < 0 ? errno : 0); fflush(stdout); }

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0) return -1;
    int ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok ? 0 : -1;
}

/* NFT_MSG_NEWTABLE "nsrtest" (inet) in one batch; the kernel's ACK carries the result. */
static long nft_new_table(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return -1;
    char buf[256];
    memset(buf, 0, sizeof buf);
    size_t off = 0;
    struct nlmsghdr *nh;
    struct nfgenmsg *nf;
    /* batch begin */
    nh = (struct nlmsghdr *)(buf + off);
    nh->nlmsg_len = NLMSG_LENGTH(sizeof *nf); nh->nlmsg_type = NFNL_MSG_BATCH_BEGIN;
    nh->nlmsg_flags = NLM_F_REQUEST; nh->nlmsg_seq = 1;
    nf = NLMSG_DATA(nh); nf->nfgen_family = AF_UNSPEC; nf->res_id = htons(NFNL_SUBSYS_NFTABLES);
    off += NLMSG_ALIGN(nh->nlmsg_len);
    /* new table */
    nh = (struct nlmsghdr *)(buf + off);
    nh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE;
    nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK; nh->nlmsg_seq = 2;
    nf = NLMSG_DATA(nh); nf->nfgen_family = NFPROTO_INET;
    struct nlattr *at = (struct nlattr *)((char *)nf + NLMSG_ALIGN(sizeof *nf));
    at->nla_type = NFTA_TABLE_NAME; at->nla_len = NLA_HDRLEN + sizeof "nsrtest";
    memcpy((char *)at + NLA_HDRLEN, "nsrtest", sizeof "nsrtest");
    nh->nlmsg_len = NLMSG_LENGTH(NLMSG_ALIGN(sizeof *nf) + NLA_ALIGN(at->nla_len));
    off += NLMSG_ALIGN(nh->nlmsg_len);
    /* batch end */
    nh = (struct nlmsghdr *)(buf + off);
    nh->nlmsg_len = NLMSG_LENGTH(sizeof *nf); nh->nlmsg_type = NFNL_MSG_BATCH_END;
    nh->nlmsg_flags = NLM_F_REQUEST; nh->nlmsg_seq = 3;
    nf = NLMSG_DATA(nh); nf->nfgen_family = AF_UNSPEC; nf->res_id = htons(NFNL_SUBSYS_NFTABLES);
    off += NLMSG_ALIGN(nh->nlmsg_len);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (sendto(fd, buf, off, 0, (struct sockaddr *)&sa, sizeof sa) < 0) { close(fd); return -1; }
    char reply[4096];
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    close(fd);
    if (n < 0) return -1;
    for (nh = (struct nlmsghdr *)reply; NLMSG_OK(nh, (size_t)n); nh = NLMSG_NEXT(nh, n)) {
        if (nh->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *e = NLMSG_DATA(nh);
            if (e->error) { errno = -e->error; return -1; }
            return 0;
        }
    }
    errno = EPROTO;
    return -1;
}

/* A nested user namespace (then mount + net namespaces in it): a tmpfs and an nf_tables table, in a child
 * so nothing of it outlives the attempt. Without the user namespace the last two are tried where we are. */
static void nested_namespaces(void) {
    pid_t pid = fork();
    if (pid == 0) {
        uid_t uid = geteuid();
        gid_t gid = getegid();
        long rc = unshare(CLONE_NEWUSER);
        report("unshare_user", rc);
        if (rc == 0) {
            char map[64];
            write_file("/proc/self/setgroups", "deny");
            snprintf(map, sizeof map, "0 %u 1", uid);
            write_file("/proc/self/uid_map", map);
            snprintf(map, sizeof map, "0 %u 1", gid);
            write_file("/proc/self/gid_map", map);
            report("unshare_mnt_net", unshare(CLONE_NEWNS | CLONE_NEWNET));
        }
        report("mount_tmpfs", mount("none", "/tmp", "tmpfs", 0, "size=64k"));
        report("nft_table", nft_new_table());
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

/* A 32-bit (i386) syscall from this 64-bit program, as a 32-bit binary in an image makes them: the filter
 * must hold for that ABI too. Returns -1 with errno set, like syscall(2). */
static long int80(long nr, long a1) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1) : "memory");
    if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
    return ret;
}

int main(void) {
    nested_namespaces();
    /* clone(CLONE_NEWUSER) directly, as exploits do when unshare is watched */
    long child = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (child == 0) _exit(0);
    report("clone_newuser", child);
    report("i386_unshare_user", int80(310, CLONE_NEWUSER));  /* i386 unshare: blocked in that ABI too */
    report("i386_getpid", int80(20, 0));                     /* i386 getpid: allowed, so 32-bit binaries run */
    report("x32_getpid", syscall(0x40000000 | 39));          /* x32 getpid: ENOSYS where the kernel has no x32 */
    if (child > 0) waitpid(child, NULL, 0);
    report("keyctl_session", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    report("add_key", syscall(SYS_add_key, "user", "nsrtest", "decoy", 5, KEY_SPEC_PROCESS_KEYRING));
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr; attr.type = PERF_TYPE_SOFTWARE; attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.exclude_kernel = 1; attr.exclude_hv = 1; attr.disabled = 1;
    long pfd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
    report("perf_event_open", pfd);
    if (pfd >= 0) close(pfd);
    long ufd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
    report("userfaultfd", ufd);
    if (ufd >= 0) close(ufd);
    int old = personality(0xffffffff);
    report("personality_no_randomize", personality(ADDR_NO_RANDOMIZE));
    personality(old);
    long vs = socket(AF_VSOCK, SOCK_STREAM, 0);
    report("socket_vsock", vs);
    if (vs >= 0) close(vs);
    return 0;
}
