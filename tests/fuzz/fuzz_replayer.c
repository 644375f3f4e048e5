/*  fuzz_replayer: the replayer's two inputs from the network, on one daemon (its real
    RocksDB store in a scratch directory, its sockets on ipc:// endpoints there, which
    nothing connects to): an events-socket message (rp_daemon_handle_event: decode, then
    audit trail and dead-letter store) and a control-socket request
    (rp_daemon_handle_control: one JSON request, one JSON reply).

    Input: byte 0 even: the rest is a control request; odd: an event, flushed to the store
    (so later control requests see its dead letter). Properties: an event never stops the
    daemon with a storage error; every control request gets a JSON object reply with a
    boolean "ok" and, when not ok, an "error" text. */
#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdint.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "rp_daemon.h"
#include "rp_store.h"

static rp_daemon_t *s_daemon;
static char s_dir[256];

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove (path);
}

static void
at_exit (void)
{
    rp_daemon_destroy (&s_daemon);
    if (*s_dir)
        nftw (s_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
setup (void)
{
    fuzz_init ();
    const char *tmp = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/mlc-fuzz-replayer.XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp (s_dir)) {
        perror ("fuzz_replayer: mkdtemp");
        exit (1);
    }
    char data[300], events[300], replay[300], control[300], err[512];
    snprintf (data, sizeof data, "%s/data", s_dir);
    snprintf (events, sizeof events, "ipc://%s/events.sock", s_dir);
    snprintf (replay, sizeof replay, "ipc://%s/replay.sock", s_dir);
    snprintf (control, sizeof control, "ipc://%s/control.sock", s_dir);
    rp_daemon_config_t cfg = {.data_dir = data,
                              .events_endpoint = events,
                              .replay_endpoint = replay,
                              .control_endpoint = control,
                              .hwm = 1000};
    s_daemon = rp_daemon_new (&cfg, err, sizeof err);
    if (!s_daemon) {
        fprintf (stderr, "fuzz_replayer: %s\n", err);
        exit (1);
    }
    atexit (at_exit);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_daemon)
        setup ();
    if (size < 1)
        return 0;
    if (data[0] & 1) {
        FUZZ_CHECK (rp_daemon_handle_event (s_daemon, data + 1, size - 1) == 0);
        FUZZ_CHECK (rp_store_flush (rp_daemon_store (s_daemon), false) == 0);
        return 0;
    }
    char *reply = rp_daemon_handle_control (s_daemon, data + 1, size - 1);
    FUZZ_CHECK (reply);
    cJSON *json = cJSON_Parse (reply);
    FUZZ_CHECK (cJSON_IsObject (json));
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive (json, "ok");
    FUZZ_CHECK (cJSON_IsBool (ok));
    if (cJSON_IsFalse (ok))
        FUZZ_CHECK (cJSON_IsString (cJSON_GetObjectItemCaseSensitive (json, "error")));
    cJSON_Delete (json);
    free (reply);
    return 0;
}
