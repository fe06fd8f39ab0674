/*
 * fuzz_plan.c — libFuzzer harness of the plan loader (plan.h:
 * dq_plan_read, then dq_plan_check against the tiny test model of
 * tests/testmodels.h, written once per process).  The input is an HDF5
 * file.  Reading must fail naming the file, or give a plan whose check
 * fails naming the file, or passes; a plan that passes must compute its
 * statistics and clone.
 * h5io's probe stays on (fuzzutil.h explains why): a crash inside
 * libhdf5 must come back as an error naming the file, like any other.
 */
#include "error.h"
#include "fuzzutil.h"
#include "graph.h"
#include "plan.h"
#include "testmodels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static dq_model *model;

static void drop_model(void) { dq_model_free(model); }

/* The model every plan is checked against (the tiny model, whose plans
 * the seeds are). */
static const dq_model *tiny_model(void)
{
    if (model) return model;
    char path[128];
    snprintf(path, sizeof path, "/tmp/dnateq-fuzz-plan-%ld.h5", (long)getpid());
    int rc = tiny_write(path, TINY_OK);
    model = rc == DQ_OK ? dq_model_load(path) : NULL;
    unlink(path);
    if (!model) dq_fuzz_fail("cannot load the tiny model");
    atexit(drop_model);
    return model;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const dq_model *m = tiny_model();
    const char *path = dq_fuzz_file(data, size, ".h5");
    dq_plan *p = dq_plan_read(path);
    if (!p || dq_plan_check(p, m) != DQ_OK) {
        if (!strstr(dq_error_message(), path))
            dq_fuzz_fail("an error that does not name the file");
    } else {
        dq_plan_stats st;
        if (dq_plan_stats_compute(p, &st) != DQ_OK)
            dq_fuzz_fail("a checked plan without statistics");
        dq_plan *c = dq_plan_clone(p);
        if (!c || dq_plan_first_diff(p, c) != p->n_layers)
            dq_fuzz_fail("a clone that differs");
        dq_plan_free(c);
    }
    dq_plan_free(p);
    dq_fuzz_done();
    dq_error_clear();
    return 0;
}
