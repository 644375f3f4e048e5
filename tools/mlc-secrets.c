/*  mlc-secrets: the operator command for the encrypted credential store (cm_secrets.h).

    mlc-secrets keygen
        prints a new master key (64 hex characters): keep it in a file given to the
        processes as MLC_MASTER_KEY_FILE (a compose secret), never in the config.
    mlc-secrets [--config F] [--file STORE] [--allow-http] import-ionapi FILE [--name N]
        checks the .ionapi file like the extractor does, then stores its text as secret N
        (default ionapi/<ti>); the config then says "cloudsuite.ionapi": "secret:N".
    mlc-secrets [--config F] [--file STORE] set NAME
        stores the value read from standard input (never from the command line, so it does
        not show in `ps`); one trailing newline is dropped. On a terminal the input is hidden.
    mlc-secrets [--config F] [--file STORE] list
        prints the names, one per line (never a value).
    mlc-secrets [--config F] [--file STORE] delete NAME

    The store is --file, else secrets.file from the config, else <data_dir>/secrets.enc. The
    master key comes from MLC_MASTER_KEY_FILE or MLC_MASTER_KEY. Exit status: 0 done, 1
    error, 2 usage. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cm_config.h"
#include "cm_secrets.h"
#include "cs_ionapi.h"

static int
s_usage (void)
{
    fprintf (stderr,
             "usage: mlc-secrets keygen\n"
             "       mlc-secrets [--config F] [--file STORE] [--allow-http] import-ionapi FILE "
             "[--name NAME]\n"
             "       mlc-secrets [--config F] [--file STORE] set NAME   (value on stdin)\n"
             "       mlc-secrets [--config F] [--file STORE] list\n"
             "       mlc-secrets [--config F] [--file STORE] delete NAME\n"
             "The master key comes from MLC_MASTER_KEY_FILE or MLC_MASTER_KEY.\n");
    return 2;
}

/*  Reads fd to the end into a sodium_malloc'd buffer of at most max bytes. Returns the
    buffer (NUL-terminated) or NULL with err. */
static char *
s_read_all (int fd, size_t max, size_t *len, const char *what, char *err, size_t err_cap)
{
    char *buf = sodium_malloc (max + 2);
    if (!buf) {
        snprintf (err, err_cap, "out of memory");
        return NULL;
    }
    size_t got = 0;
    while (got <= max) {
        ssize_t n = read (fd, buf + got, max + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf (err, err_cap, "%s: read failed: %s", what, strerror (errno));
            sodium_free (buf);
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > max) {
        snprintf (err, err_cap, "%s: longer than %zu bytes", what, max);
        sodium_free (buf);
        return NULL;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/*  Reads the secret value from stdin (hidden when it is a terminal) into a sodium_malloc'd
    buffer; one trailing newline (LF or CRLF) is dropped. */
static char *
s_read_value (const char *name, size_t *len, char *err, size_t err_cap)
{
    char *value = NULL;
    struct termios saved;
    if (isatty (STDIN_FILENO) && tcgetattr (STDIN_FILENO, &saved) == 0) {
        struct termios quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        fprintf (stderr, "value for %s (input hidden, end with Enter): ", name);
        fflush (stderr);
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &quiet);
        value = sodium_malloc (CM_SECRETS_MAX_VALUE + 3);
        bool got = value && fgets (value, CM_SECRETS_MAX_VALUE + 3, stdin) != NULL;
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
        fprintf (stderr, "\n");
        if (!got) {
            snprintf (err, err_cap, "no value read");
            if (value)
                sodium_free (value);
            return NULL;
        }
        *len = strlen (value);
    } else {
        value = s_read_all (STDIN_FILENO, CM_SECRETS_MAX_VALUE + 2, len, "standard input", err,
                            err_cap);
        if (!value)
            return NULL;
    }
    if (*len > 0 && value[*len - 1] == '\n')
        value[--*len] = '\0';
    if (*len > 0 && value[*len - 1] == '\r')
        value[--*len] = '\0';
    return value;
}

/*  The store path: --file, secrets.file, or <data_dir>/secrets.enc. */
static void
s_store_path (const cm_config_t *cfg, const char *file, char *out, size_t cap)
{
    const char *set = cm_config_str (cfg, "secrets.file");
    if (file)
        snprintf (out, cap, "%s", file);
    else if (set && *set)
        snprintf (out, cap, "%s", set);
    else
        snprintf (out, cap, "%s/secrets.enc", cm_config_str (cfg, "data_dir"));
}

int
main (int argc, char **argv)
{
    const char *config = getenv ("MLC_CONFIG");
    const char *file = NULL, *name = NULL, *arg = NULL, *cmd = NULL;
    bool allow_http = false;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp (argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (strcmp (argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp (argv[i], "--allow-http") == 0)
            allow_http = true;
        else if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
            s_usage ();
            return 0;
        } else if (argv[i][0] == '-')
            return s_usage ();
        else
            break;
    }
    if (i >= argc)
        return s_usage ();
    cmd = argv[i++];
    for (; i < argc; i++) {
        if (strcmp (argv[i], "--name") == 0 && i + 1 < argc && strcmp (cmd, "import-ionapi") == 0)
            name = argv[++i];
        else if (!arg && argv[i][0] != '-')
            arg = argv[i];
        else
            return s_usage ();
    }
    if (sodium_init () < 0) {
        fprintf (stderr, "mlc-secrets: libsodium could not be initialised\n");
        return 1;
    }
    if (strcmp (cmd, "keygen") == 0) {
        if (arg)
            return s_usage ();
        char hex[CM_SECRETS_KEY_HEX + 1];
        cm_secrets_keygen (hex);
        printf ("%s\n", hex);
        sodium_memzero (hex, sizeof hex);
        return 0;
    }
    bool writes = strcmp (cmd, "import-ionapi") == 0 || strcmp (cmd, "set") == 0 ||
                  strcmp (cmd, "delete") == 0;
    if (!writes && strcmp (cmd, "list") != 0)
        return s_usage ();
    if ((strcmp (cmd, "list") == 0) == (arg != NULL))
        return s_usage ();

    int rc = 1;
    char err[5000], path[4096];
    cm_config_t *cfg = NULL;
    unsigned char *key = NULL;
    cm_secrets_t *store = NULL;
    char *value = NULL;
    cs_ionapi_t *ionapi = NULL;

    /* the config may already name secrets that are not in the store yet */
    cfg = cm_config_load_unresolved (config, err, sizeof err);
    if (!cfg)
        goto fail;
    s_store_path (cfg, file, path, sizeof path);
    key = cm_secrets_master_key (err, sizeof err);
    if (!key)
        goto fail;
    store = cm_secrets_open (path, key, writes, err, sizeof err);
    if (!store)
        goto fail;

    if (strcmp (cmd, "list") == 0) {
        for (size_t k = 0; k < cm_secrets_count (store); k++)
            printf ("%s\n", cm_secrets_name (store, k));
        rc = 0;
        goto out;
    }
    if (strcmp (cmd, "delete") == 0) {
        if (!cm_secrets_delete (store, arg)) {
            snprintf (err, sizeof err, "no secret '%.140s' in %s", arg, path);
            goto fail;
        }
        if (cm_secrets_save (store, err, sizeof err))
            goto fail;
        printf ("deleted %s from %s\n", arg, path);
        rc = 0;
        goto out;
    }
    size_t len = 0;
    char auto_name[CM_SECRETS_MAX_NAME + 1];
    if (strcmp (cmd, "set") == 0) {
        if (!cm_secrets_name_ok (arg)) {
            snprintf (err, sizeof err, "'%.140s' is not a valid secret name", arg);
            goto fail;
        }
        value = s_read_value (arg, &len, err, sizeof err);
        if (!value)
            goto fail;
        name = arg;
    } else {
        int fd = open (arg, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf (err, sizeof err, "%s: cannot open .ionapi file: %s", arg, strerror (errno));
            goto fail;
        }
        value = s_read_all (fd, CS_IONAPI_MAX_BYTES, &len, arg, err, sizeof err);
        close (fd);
        if (!value)
            goto fail;
        ionapi = cs_ionapi_parse (arg, value, len,
                                  allow_http || cm_config_bool (cfg, "cloudsuite.allow_http"), err,
                                  sizeof err);
        if (!ionapi)
            goto fail;
        if (!name) {
            snprintf (auto_name, sizeof auto_name, "ionapi/%s", cs_ionapi_tenant (ionapi));
            name = auto_name;
        }
    }
    if (cm_secrets_set (store, name, value, len, err, sizeof err) ||
        cm_secrets_save (store, err, sizeof err))
        goto fail;
    if (ionapi)
        printf ("imported %s (tenant %s) as secret %s into %s\n"
                "set \"cloudsuite\": {\"ionapi\": \"secret:%s\"} (and drop ionapi_file); the "
                ".ionapi file is no longer needed on this machine\n",
                arg, cs_ionapi_tenant (ionapi), name, path, name);
    else
        printf ("stored secret %s (%zu bytes) in %s; refer to it as \"secret:%s\"\n", name, len,
                path, name);
    rc = 0;
    goto out;
fail:
    fprintf (stderr, "mlc-secrets: %s\n", err);
out:
    cs_ionapi_destroy (&ionapi);
    if (value)
        sodium_free (value);
    cm_secrets_destroy (&store);
    cm_secrets_key_free (&key);
    cm_config_destroy (&cfg);
    return rc;
}
