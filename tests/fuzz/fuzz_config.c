/*  fuzz_config: cm_config_load on an arbitrary configuration file.

    The loader reads a path, so the input is written to an in-memory file (memfd) and
    loaded through /proc/self/fd/N: no disk traffic. MLC_ variables are removed from the
    environment first, so only the file is under test. An accepted file gives a config
    whose values read back (log.level is one the logger knows). */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cm_config.h"
#include "fuzz_common.h"

extern char **environ;

static void
drop_mlc_env (void)
{
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; e && *e; e++)
            if (strncmp (*e, "MLC_", 4) == 0) {
                char name[256];
                size_t n = strcspn (*e, "=");
                snprintf (name, sizeof name, "%.*s", (int)n, *e);
                unsetenv (name);
                again = 1;
                break;
            }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static int fd = -1;
    if (fd < 0) {
        fuzz_init ();
        drop_mlc_env ();
        fd = memfd_create ("fuzz-config", MFD_CLOEXEC);
        if (fd < 0)
            abort ();
    }
    if (ftruncate (fd, 0) != 0 || pwrite (fd, data, size, 0) != (ssize_t)size)
        abort ();
    char path[64];
    snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
    char err[512] = "";
    cm_config_t *cfg = cm_config_load (path, err, sizeof err);
    if (!cfg) {
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
        return 0;
    }
    cm_log_level_t level;
    FUZZ_CHECK (cm_log_level_parse (cm_config_str (cfg, "log.level"), &level) == 0);
    FUZZ_CHECK (cm_config_int (cfg, "zmq.hwm") >= 1);
    FUZZ_CHECK (cm_config_int (cfg, "salesforce.batch_size") >= 1 &&
                cm_config_int (cfg, "salesforce.batch_size") <= 200);
    (void)cm_config_bool (cfg, "cloudsuite.allow_http");
    static const char *const required[] = {"salesforce.url", "salesforce.client_id", NULL};
    if (cm_config_require (cfg, required, err, sizeof err) != 0)
        FUZZ_CHECK (fuzz_has_reason (err, sizeof err));
    cm_config_destroy (&cfg);
    return 0;
}
