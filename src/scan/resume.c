/* --resume: a small text file naming the scan (a signature over type,
 * targets, ports and shard), its seed, the first permutation position not
 * yet concluded, and the replies already seen. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/siphash.h"
#include "portmux/scan.h"

uint64_t pm_scan_signature(const pm_scan_cfg *c)
{
    pm_sipkey k = {0x726573756d652d31ull, 0x7369676e61747572ull};
    uint64_t h = pm_siphash24(&k, c->ports.port, c->ports.n * sizeof *c->ports.port);
    for (size_t i = 0; i < c->targets.n; i++) {
        uint64_t in[4] = {h, 0, c->targets.r[i].count, c->targets.r[i].family};
        memcpy(&in[1], c->targets.r[i].base.b + 8, 8);
        in[0] ^= pm_siphash24(&k, c->targets.r[i].base.b, 16);
        h = pm_siphash24(&k, in, sizeof in);
    }
    uint64_t tail[5] = {h, (uint64_t)c->type, c->shard, c->nshards, c->seed};
    return pm_siphash24(&k, tail, sizeof tail);
}

int pm_scan_resume_save(const char *path, const pm_scan_cfg *cfg, uint64_t next,
                        const pm_scan_result *res)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) return -ENAMETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (!f) return -errno;
    fprintf(f,
            "portmux-scan-resume 1\nsignature=%016" PRIx64 "\nseed=%" PRIu64
            "\nshard=%u\nnshards=%u\nnext=%" PRIu64 "\n",
            pm_scan_signature(cfg), cfg->seed, cfg->shard, cfg->nshards, next);
    for (uint64_t i = 0; i < res->n; i++)
        if (res->state[i] && res->reason[i] != PM_R_NO_RESPONSE)
            fprintf(f, "r %" PRIu64 " %u %u %u\n", i, res->state[i], res->reason[i], res->ttl[i]);
    int rc = ferror(f) ? -EIO : 0;
    if (fclose(f) != 0 && rc == 0) rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) rc = -errno;
    if (rc < 0) unlink(tmp);
    return rc;
}

int pm_scan_resume_seed(const char *path, uint64_t *seed)
{
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char line[128];
    int rc = -EINVAL;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "seed=%" SCNu64, seed) == 1) {
            rc = 0;
            break;
        }
    fclose(f);
    return rc;
}

int pm_scan_resume_load(const char *path, const pm_scan_cfg *cfg, uint64_t *next,
                        pm_scan_result *res)
{
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char line[128];
    uint64_t sig = 0, pos = 0;
    int have = 0, rc = 0;
    if (!fgets(line, sizeof line, f) || strcmp(line, "portmux-scan-resume 1\n") != 0) rc = -EINVAL;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        uint64_t i;
        unsigned st, rs, ttl;
        if (sscanf(line, "signature=%" SCNx64, &sig) == 1)
            have |= 1;
        else if (sscanf(line, "next=%" SCNu64, &pos) == 1)
            have |= 2;
        else if (sscanf(line, "r %" SCNu64 " %u %u %u", &i, &st, &rs, &ttl) == 4) {
            if (i >= res->n || st >= PM_PORT_STATE_MAX || rs >= PM_R_COUNT || ttl > 255) {
                rc = -EINVAL;
                break;
            }
            res->state[i] = (uint8_t)st;
            res->reason[i] = (uint8_t)rs;
            res->ttl[i] = (uint8_t)ttl;
        }
    }
    fclose(f);
    if (rc < 0) return rc;
    if (have != 3) return -EINVAL;
    if (sig != pm_scan_signature(cfg)) return -ESTALE;
    uint32_t ns = cfg->nshards ? cfg->nshards : 1;
    if (pos > pm_shard_count(res->n, cfg->shard, ns)) return -EINVAL;
    *next = pos;
    return 0;
}
