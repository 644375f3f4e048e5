/*  Unit tests for ld_workers: jobs run on the pool's threads (each with its own HTTP
    client), at most n at once, come back exactly once through ld_workers_take, the
    descriptor wakes a poll while finished jobs wait, and destroy hands back what was never
    taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include "../../loader/ld_workers.h"

typedef struct {
    int id;          /* job number */
    int done;        /* times it ran */
    cm_http_t *http; /* the client it ran with */
} job_t;

typedef struct {
    pthread_mutex_t lock; /* guards the counters */
    int running;          /* jobs running now */
    int peak;             /* most at once */
} shared_t;

static void
s_work (void *job_p, cm_http_t *http, void *arg)
{
    job_t *job = job_p;
    shared_t *sh = arg;
    pthread_mutex_lock (&sh->lock);
    if (++sh->running > sh->peak)
        sh->peak = sh->running;
    pthread_mutex_unlock (&sh->lock);
    usleep (2000);
    job->done++;
    job->http = http;
    pthread_mutex_lock (&sh->lock);
    sh->running--;
    pthread_mutex_unlock (&sh->lock);
}

static int g_discarded;

static void
s_discard (void *job)
{
    g_discarded++;
    free (job);
}

static void
test_pool (void **state)
{
    shared_t sh = {.running = 0};
    pthread_mutex_init (&sh.lock, NULL);
    char err[128];
    assert_null (ld_workers_new (0, s_work, &sh, 1024, 1000, err, sizeof err));
    ld_workers_t *w = ld_workers_new (3, s_work, &sh, 1024, 1000, err, sizeof err);
    assert_non_null (w);
    assert_int_equal (ld_workers_idle (w), 3);
    assert_null (ld_workers_take (w));
    job_t jobs[40];
    for (int i = 0; i < 40; i++) {
        jobs[i] = (job_t){.id = i};
        assert_int_equal (ld_workers_submit (w, &jobs[i]), 0);
    }
    assert_int_equal (ld_workers_idle (w), 0);
    int back = 0;
    while (back < 40) {
        struct pollfd p = {.fd = ld_workers_fd (w), .events = POLLIN};
        assert_true (poll (&p, 1, 5000) == 1); //  a hang guard
        job_t *job;
        while ((job = ld_workers_take (w))) {
            assert_int_equal (job->done, 1);
            assert_non_null (job->http);
            back++;
        }
    }
    assert_int_equal (ld_workers_busy (w), 0);
    assert_int_equal (ld_workers_idle (w), 3);
    assert_true (sh.peak >= 1 && sh.peak <= 3);
    for (int i = 0; i < 40; i++)
        assert_int_equal (jobs[i].done, 1);
    ld_workers_destroy (&w, NULL);
    assert_null (w);

    //  Destroy hands back finished jobs nobody took, and queued ones that never ran
    w = ld_workers_new (1, s_work, &sh, 1024, 1000, err, sizeof err);
    for (int i = 0; i < 5; i++) {
        job_t *job = calloc (1, sizeof *job);
        assert_int_equal (ld_workers_submit (w, job), 0);
    }
    g_discarded = 0;
    ld_workers_destroy (&w, s_discard);
    assert_int_equal (g_discarded, 5);
    ld_workers_destroy (&w, s_discard); //  NULL is fine
    pthread_mutex_destroy (&sh.lock);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_pool),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
