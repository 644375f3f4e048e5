/*  fuzz_transform: the transformer's work on a fuzzed record: the shipped default mapping
    (config/mapping.json) applied to a fuzzed envelope, first without and then with the
    transformer's memory (a real tf_memory in a scratch RocksDB directory, so match keys,
    aliases and union fields run too).

    Input: when it starts like a msgpack map it is an envelope on the wire and goes
    through cm_envelope_decode, exactly as tf_loop receives it. Otherwise it is a compact
    description that reaches the mapping rules far more often than random msgpack: byte 0
    picks the entity (vendor, customer, invoice, po, or an unknown one), the rest is
    "Name=Value" lines. After a TF_OK the mapped envelope must still encode, or be over
    the envelope size limit (what tf_loop rejects as MAPPING_PAYLOAD_TOO_LARGE). */
#include <ftw.h>
#include <stdint.h>
#include <unistd.h>

#include "cm_envelope.h"
#include "fuzz_transform_check.h"
#include "tf_mapping.h"
#include "tf_memory.h"

#ifndef MLC_SOURCE_DIR
#define MLC_SOURCE_DIR "."
#endif

static tf_mapping_t *s_mapping;
static tf_memory_t *s_memory;
static tf_memory_ops_t s_ops;
static char s_dir[256];

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

static void
at_exit (void)
{
    tf_memory_destroy (&s_memory);
    tf_mapping_destroy (&s_mapping);
    if (*s_dir)
        nftw (s_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup (void)
{
    fuzz_init ();
    char err[1024];
    const char *path = getenv ("FUZZ_MAPPING");
    if (!path)
        path = MLC_SOURCE_DIR "/config/mapping.json";
    s_mapping = tf_mapping_load (path, err, sizeof err);
    if (!s_mapping) {
        fprintf (stderr, "fuzz_transform: %s\n", err);
        exit (1);
    }
    const char *tmp = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/mlc-fuzz-memory.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp (s_dir)) {
        perror ("fuzz_transform: mkdtemp");
        exit (1);
    }
    char db[300];
    snprintf (db, sizeof db, "%s/memory", s_dir);
    s_memory = tf_memory_open (db, err, sizeof err);
    if (!s_memory) {
        fprintf (stderr, "fuzz_transform: %s\n", err);
        exit (1);
    }
    tf_memory_ops (s_memory, &s_ops);
    atexit (at_exit);
}

static const char *s_entities[] = {"vendor", "customer", "invoice", "po", "contact"};

/*  Builds an envelope from the compact description (see the file comment). */
static cm_envelope_t *
from_lines (const uint8_t *data, size_t size)
{
    const char *entity = s_entities[size ? data[0] % 5 : 0];
    cm_envelope_t *env = cm_envelope_new ("ACME_PRD", entity, "K1");
    if (!env)
        abort ();
    size_t pos = size ? 1 : 0;
    while (pos < size) {
        const uint8_t *nl = memchr (data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
        const uint8_t *eq = memchr (data + pos, '=', len);
        if (eq && eq > data + pos) {
            char *name = fuzz_strndup (data + pos, (size_t)(eq - (data + pos)));
            char *value = fuzz_strndup (eq + 1, len - (size_t)(eq + 1 - (data + pos)));
            /*  What the wire can carry: no NUL inside, unique names (cm_envelope_decode
                refuses anything else before the transformer sees it). */
            if (strlen (name) == (size_t)(eq - (data + pos)) &&
                strlen (value) == len - (size_t)(eq + 1 - (data + pos)) &&
                !cm_envelope_field (env, name))
                cm_envelope_add_field (env, name, value);
            free (name);
            free (value);
        }
        pos += len + 1;
    }
    cm_envelope_compute_hash (env);
    return env;
}

static void
run (cm_envelope_t *env, const tf_memory_ops_t *mem)
{
    tf_result_t res;
    tf_status_t st = tf_transform_apply (s_mapping, env, mem, &res);
    fuzz_check_transform (st, env, &res);
    if (st == TF_OK) {
        char *bytes = NULL;
        size_t n = 0;
        if (cm_envelope_encode (env, &bytes, &n) == 0) {
            char err[256];
            cm_envelope_t *again = cm_envelope_decode (bytes, n, err, sizeof err);
            if (!again)
                fprintf (stderr, "mapped envelope does not decode: %s\n", err);
            FUZZ_CHECK (again);
            cm_envelope_destroy (&again);
            free (bytes);
        } else {
            /*  Only size may stop it: tf_loop then rejects MAPPING_PAYLOAD_TOO_LARGE. */
            size_t total = strlen (env->payload) + strlen (env->ext_id) + strlen (env->key);
            for (size_t i = 0; i < env->field_count; i++)
                total += strlen (env->fields[i].name) + strlen (env->fields[i].value);
            FUZZ_CHECK (strlen (env->payload) > CM_ENVELOPE_MAX_STR ||
                        total > CM_ENVELOPE_MAX_BYTES - 8192);
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_mapping)
        setup ();
    cm_envelope_t *env = NULL;
    if (size && ((data[0] >= 0x80 && data[0] <= 0x8f) || data[0] == 0xde || data[0] == 0xdf)) {
        char err[256];
        env = cm_envelope_decode (data, size, err, sizeof err);
        if (!env)
            return 0;
    } else
        env = from_lines (data, size);
    /*  The loader's view of a second hop: the target of a previous transformation (or a
        hostile one on the wire) is replaced, never trusted. */
    run (env, NULL);
    run (env, &s_ops);
    cm_envelope_destroy (&env);
    return 0;
}
