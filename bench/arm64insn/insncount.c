/*
 * insncount is a QEMU TCG plugin that counts the guest instructions a
 * program executes under qemu-user (all threads) and prints the total to
 * stderr at exit as "insns: N". With the argument profile=FILE
 * (-plugin libinsncount.so,profile=FILE) it also writes, for each translated
 * block, its guest address and the instructions executed in it ("0xADDR N"
 * lines, a block translated twice on two lines), for a profile by function
 * (bench/arm64_insns.sh with PROFILE=1). It is bench/arm64_insns.sh's counter: Debian's
 * qemu-user (the dynamically linked build; qemu-user-static has no plugin
 * support) loads it with -plugin, and it is built with the host's cc.
 *
 * The declarations below are the few of QEMU's plugin API (qemu-plugin.h,
 * API version 1, QEMU 7.x) that it uses, so that no QEMU headers are needed.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int, void *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, qemu_plugin_vcpu_udata_cb_t,
                                          enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);
void qemu_plugin_outs(const char *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

static uint64_t insns;

/* block is one translated block of the profile. */
struct block {
    uint64_t vaddr, n, runs;
    struct block *next;
};
static struct block *blocks; /* every translated block, with a profile */
static const char *profile;  /* the profile's file, or NULL */

static void block_exec(unsigned int vcpu, void *p)
{
    (void)vcpu;
    struct block *b = p;
    __atomic_fetch_add(&b->runs, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&insns, b->n, __ATOMIC_RELAXED);
}

/* tb_exec adds a translation block's instructions each time it runs;
 * guest threads run on host threads at once, hence the atomic add. */
static void tb_exec(unsigned int vcpu, void *n)
{
    (void)vcpu;
    __atomic_fetch_add(&insns, (uint64_t)(uintptr_t)n, __ATOMIC_RELAXED);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (profile) {
        struct block *b = calloc(1, sizeof *b);
        if (!b) {
            abort();
        }
        b->vaddr = qemu_plugin_tb_vaddr(tb);
        b->n = n;
        b->next = __atomic_load_n(&blocks, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(&blocks, &b->next, b, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        }
        qemu_plugin_register_vcpu_tb_exec_cb(tb, block_exec, QEMU_PLUGIN_CB_NO_REGS, b);
        return;
    }
    qemu_plugin_register_vcpu_tb_exec_cb(tb, tb_exec, QEMU_PLUGIN_CB_NO_REGS, (void *)(uintptr_t)n);
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    char buf[64];
    snprintf(buf, sizeof buf, "insns: %" PRIu64 "\n", __atomic_load_n(&insns, __ATOMIC_RELAXED));
    qemu_plugin_outs(buf);
    if (profile) {
        FILE *f = fopen(profile, "w");
        if (!f) {
            qemu_plugin_outs("insncount: cannot write the profile\n");
            return;
        }
        for (struct block *b = __atomic_load_n(&blocks, __ATOMIC_ACQUIRE); b; b = b->next) {
            if (b->runs) {
                fprintf(f, "0x%" PRIx64 " %" PRIu64 "\n", b->vaddr, b->n * b->runs);
            }
        }
        fclose(f);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "profile=", 8) == 0) {
            profile = argv[i] + 8;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
