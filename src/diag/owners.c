/* Which process holds which socket: every /proc/<pid>/fd/<fd> that links to
 * "socket:[<inode>]", as ss -p finds them (user_ent_hash_build()). */
#include "portmux/diag.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

static int push(pm_diag_owners *o, const pm_diag_owner *w)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        pm_diag_owner *v = realloc(o->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = *w;
    return 0;
}

static int cmp_owner(const void *a, const void *b)
{
    const pm_diag_owner *x = a, *y = b;
    if (x->inode != y->inode) return x->inode < y->inode ? -1 : 1;
    if (x->pid != y->pid) return x->pid < y->pid ? -1 : 1;
    return x->fd < y->fd ? -1 : x->fd > y->fd;
}

static void read_comm(const char *root, const char *pid, char comm[32])
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/comm", root, pid);
    comm[0] = '\0';
    FILE *f = fopen(path, "re");
    if (!f) return;
    if (fgets(comm, 32, f)) comm[strcspn(comm, "\n")] = '\0';
    fclose(f);
}

int pm_diag_owners_scan(pm_diag_owners *o, const char *root)
{
    if (!root) root = "/proc";
    DIR *d = opendir(root);
    if (!d) return -errno;
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d))) {
        if (!all_digits(e->d_name)) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s/fd", root, e->d_name);
        DIR *fds = opendir(path);
        if (!fds) continue; /* gone, or not ours to read */
        pm_diag_owner w = {.pid = atoi(e->d_name)};
        bool have_comm = false;
        struct dirent *fe;
        while ((fe = readdir(fds))) {
            if (!all_digits(fe->d_name)) continue;
            char link[64], fdpath[1024];
            snprintf(fdpath, sizeof fdpath, "%s/%s", path, fe->d_name);
            ssize_t n = readlink(fdpath, link, sizeof link - 1);
            if (n <= 0) continue;
            link[n] = '\0';
            unsigned long long ino;
            if (sscanf(link, "socket:[%llu]", &ino) != 1) continue;
            if (!have_comm) {
                read_comm(root, e->d_name, w.comm);
                have_comm = true;
            }
            w.inode = ino;
            w.fd = atoi(fe->d_name);
            if ((r = push(o, &w)) < 0) break;
        }
        closedir(fds);
    }
    closedir(d);
    if (o->n) qsort(o->v, o->n, sizeof *o->v, cmp_owner);
    return r;
}

const pm_diag_owner *pm_diag_owners_find(const pm_diag_owners *o, uint64_t inode, size_t *count)
{
    *count = 0;
    if (!inode || !o->n) return NULL;
    size_t lo = 0, hi = o->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->v[mid].inode < inode)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < o->n && o->v[end].inode == inode) end++;
    *count = end - lo;
    return end > lo ? &o->v[lo] : NULL;
}

void pm_diag_owners_free(pm_diag_owners *o)
{
    free(o->v);
    o->v = NULL;
    o->n = o->cap = 0;
}
