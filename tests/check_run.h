/* check_run.h — runs a Check suite the way every test program here does. */
#ifndef PROXIMITY_CHECK_RUN_H
#define PROXIMITY_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Runs s (CK_FORK, or CK_NOFORK to keep state across tests) and returns
 * the exit status for main. */
static inline int check_run(Suite *s, enum fork_status fork)
{
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, fork);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
